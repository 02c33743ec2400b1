import json

import pytest
import torch

from unet3d_monai.inference import model_record_path, read_model_record, recorded, write_model_record
from unet3d_monai.networks import ResidualUNet2D, UNet3D


def test_record_round_trip_rebuilds_the_network(tmp_path):
    network = UNet3D(1, 3, final_sigmoid=False, f_maps=[4, 8], layer_order="gcr", num_groups=2)
    path = write_model_record(tmp_path / "model.pt", network, patch_size=(16, 32, 48), normalization="percentile")
    assert path == tmp_path / "model.json" == model_record_path(tmp_path / "model.pt")
    record = read_model_record(tmp_path / "model.pt")
    assert record["network"]["_target_"] == "unet3d_monai.networks.UNet3D"
    assert record["network"]["f_maps"] == [4, 8] and record["network"]["out_channels"] == 3
    assert record["patch_size"] == [16, 32, 48] and record["normalization"] == "percentile"
    assert record["final_activation"] == "softmax" and record["spatial_dims"] == 3 and record["task"] is None
    kwargs = {k: v for k, v in record["network"].items() if k != "_target_"}
    rebuilt = UNet3D(**kwargs)
    rebuilt.load_state_dict(network.state_dict(), strict=True)
    x = torch.randn(1, 1, 8, 8, 8)
    torch.testing.assert_close(rebuilt.eval()(x), network.eval()(x))


def test_record_of_a_wrapped_2d_network(tmp_path):
    network = torch.nn.DataParallel(ResidualUNet2D(1, 1, f_maps=4, num_levels=2, num_groups=2))
    write_model_record(tmp_path / "best.pt", network, patch_size=[64, 64], normalization="standardize", task="x")
    record = json.loads((tmp_path / "best.json").read_text())
    assert record["network"]["_target_"] == "unet3d_monai.networks.ResidualUNet2D"
    assert record["spatial_dims"] == 2 and record["final_activation"] == "sigmoid" and record["task"] == "x"


def test_missing_record_gives_the_default(tmp_path):
    assert read_model_record(tmp_path / "best_checkpoint.pytorch") is None
    assert read_model_record(None) is None
    assert recorded(tmp_path / "model.pt", "patch_size", [80, 170, 170]) == [80, 170, 170]
    network = UNet3D(1, 1, f_maps=4, num_levels=2, num_groups=2)
    write_model_record(tmp_path / "model.pt", network, patch_size=[8, 16, 16], normalization="minmax")
    assert recorded(tmp_path / "model.pt", "patch_size", [80, 170, 170]) == [8, 16, 16]
    assert recorded(tmp_path / "model.pt", "normalization", "standardize") == "minmax"


def test_bad_records_and_keys_are_one_sentence(tmp_path):
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"Model record '.*model.json' is not valid JSON"):
        read_model_record(tmp_path / "model.pt")
    (tmp_path / "model.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object, got list"):
        read_model_record(tmp_path / "model.pt")
    with pytest.raises(ValueError, match="Unknown model record key 'patch'"):
        recorded(tmp_path / "model.pt", "patch", None)
