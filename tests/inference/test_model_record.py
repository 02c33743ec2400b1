import json
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser

from unet3d_monai.inference import (
    model_record_path,
    read_model_record,
    recorded,
    recorded_segmentation,
    update_model_record,
    write_model_record,
)
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


def test_segmentation_chosen_on_validation_is_the_inference_bundles_default(tmp_path):
    ckpt = tmp_path / "model.pt"
    write_model_record(ckpt, UNet3D(1, 1, f_maps=8, num_levels=2), patch_size=(8, 16, 16), normalization="standardize")
    # before a choice, and for a missing record, the bundle's own values
    assert recorded_segmentation(ckpt, "foreground_watershed", "min_distance", 5) == 5
    assert recorded_segmentation(tmp_path / "none.pt", "foreground_watershed", "min_distance", 5) == 5
    chosen = {"mode": "foreground_watershed", "threshold": 0.4, "min_size": 86, "min_distance": 7}
    update_model_record(ckpt, segmentation={"settings": chosen, "score": 0.8, "trials": []})
    record = read_model_record(ckpt)
    assert record["patch_size"] == [8, 16, 16] and record["segmentation"]["settings"] == chosen
    assert recorded_segmentation(ckpt, "foreground_watershed", "min_distance", 5) == 7
    # chosen for another mode, or a setting the mode does not use: the default
    assert recorded_segmentation(ckpt, "foreground_components", "threshold", 0.5) == 0.5
    assert recorded_segmentation(ckpt, "foreground_watershed", "merge_weak", True) is True

    # the nuclei inference bundle takes them, and an override still wins
    config = Path(__file__).resolve().parents[2] / "bundles" / "nuclei" / "inference.json"
    parser = ConfigParser()
    parser.read_config(str(config))
    parser.update({"ckpt_path": str(ckpt)})
    assert [parser.get_parsed_content(k) for k in ("threshold", "min_size", "min_distance")] == [0.4, 86, 7]
    parser.update({"min_distance": 3})
    assert parser.get_parsed_content("min_distance") == 3
    parser.update({"segmentation_mode": "foreground_components", "min_distance": config_default(config)})
    assert parser.get_parsed_content("threshold") == 0.5

    with pytest.raises(ValueError, match="Unknown model record key"):
        update_model_record(ckpt, segmentaton={})
    with pytest.raises(FileNotFoundError, match="no model record"):
        update_model_record(tmp_path / "other.pt", segmentation={})


def config_default(config):
    """The bundle file's own expression of ``min_distance``."""
    return json.loads(config.read_text())["min_distance"]
