"""The pieces of the bioimage.io export that need no bioimage.io library: architecture, cover, bundle keys."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from unet3d_monai.export import export_bioimageio, network_definition, network_from_definition, training_record
from unet3d_monai.export.cover import cover_image
from unet3d_monai.networks import ResidualUNet3D, UNet3D
from unet3d_monai.planning.timing import REFERENCE_STEP

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = sorted(path.name for path in (ROOT / "bundles").iterdir() if (path / "inference.json").is_file())


def test_network_definition_round_trip():
    network = ResidualUNet3D(1, 2, f_maps=[4, 8, 16], num_groups=2, pool_kernel_size=(1, 2, 2))
    definition = network_definition(torch.nn.DataParallel(network))
    assert definition["_target_"] == "unet3d_monai.networks.ResidualUNet3D"
    assert definition["pool_kernel_size"] == [1, 2, 2] and definition["f_maps"] == [4, 8, 16]
    rebuilt = network_from_definition(json.loads(json.dumps(definition)))
    assert type(rebuilt) is ResidualUNet3D and str(rebuilt) == str(network)


def test_network_definition_refuses_what_it_cannot_rebuild():
    with pytest.raises(TypeError, match="only the networks of unet3d_monai.networks"):
        network_definition(torch.nn.Conv3d(1, 1, 3))
    with pytest.raises(ValueError, match=r"model.json: '_target_' must name one of .*got 'monai.networks.nets.UNet'"):
        network_from_definition({"_target_": "monai.networks.nets.UNet"}, "model.json")
    with pytest.raises(ValueError, match=r"model.json: UNet3D does not accept the arguments \['f_map'"):
        network_from_definition({"_target_": "unet3d_monai.networks.UNet3D", "f_map": 4}, "model.json")


def test_training_record_is_the_json_beside_the_weights(tmp_path):
    torch.save({}, tmp_path / "model.pt")
    assert training_record(tmp_path / "model.pt") is None
    (tmp_path / "model.json").write_text('{"patch_size": [8, 16, 16]}')
    assert training_record(tmp_path / "model.pt") == {"patch_size": [8, 16, 16]}
    (tmp_path / "model.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="model.json' must hold a JSON object, got list"):
        training_record(tmp_path / "model.pt")
    (tmp_path / "model.json").write_text("{patch")
    with pytest.raises(ValueError, match="model.json' is not valid JSON"):
        training_record(tmp_path / "model.pt")


def test_cover_shows_input_and_output_side_by_side():
    window = np.zeros((1, 1, 5, 16, 16), dtype=np.float32)
    window[0, 0, 2, :, 8:] = 1.0  # the middle slice: left half dark, right half bright
    probabilities = np.zeros((1, 3, 5, 16, 16), dtype=np.float32)
    probabilities[0, 0, 2] = 1.0  # class 0 everywhere in the middle slice -> red
    cover = cover_image(window, probabilities, probabilities=True)
    assert cover.shape == (256, 512, 3) and cover.dtype == np.uint8
    np.testing.assert_array_equal(cover[:, :128], 0)
    np.testing.assert_array_equal(cover[:, 128:256], 255)
    np.testing.assert_array_equal(cover[:, 256:], np.broadcast_to([255, 0, 0], (256, 256, 3)))
    regression = cover_image(window[:, :, 2], 3 * window[:, :, 2], probabilities=False)  # 2D, grey, stretched
    np.testing.assert_array_equal(regression[:, 256:], regression[:, :256])
    with pytest.raises(ValueError, match="one spatial shape"):
        cover_image(window, probabilities[..., :8], probabilities=True)


def test_export_without_the_extra_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bioimageio.spec.model", None)
    network = UNet3D(1, 1, f_maps=[4, 8], num_groups=2)
    torch.save(network.state_dict(), tmp_path / "model.pt")
    with pytest.raises(ImportError, match=r'pip install "unet3d-monai\[bioimageio\]"'):
        export_bioimageio(tmp_path / "a.zip", tmp_path / "model.pt", network, (8, 16, 16), "standardize", "boundary")
    assert not (tmp_path / "a.zip").exists()


@pytest.mark.parametrize("task", BUNDLES)
def test_inference_bundles_export_with_their_training_patch(task):
    """The export takes the training patch from the model's record; without one (a pytorch-3dunet checkpoint) the
    bundle's patch, the fixed default the training plan measures its time target at."""
    inference = json.loads((ROOT / "bundles" / task / "inference.json").read_text())
    train = json.loads((ROOT / "bundles" / task / "train.json").read_text())
    assert train["patch_size"] == "auto"
    assert inference["patch_size"] == list(REFERENCE_STEP[2 if task == "dsb2018_2d" else 3][0])
    assert inference["sample_task"] == train["sample_task"] == task
    assert inference["export_bioimageio"][0].startswith("$unet3d_monai.export.export_bioimageio(@output, @ckpt_path")
    for name in ("output", "patch_size", "sample_task", "bioimageio", "overwrite"):
        assert name in inference
    assert sorted(inference["bioimageio"]) == ["authors", "license", "tags"]


def test_training_record_is_the_record_of_those_weights_as_prediction_reads_it(tmp_path):
    """A checkpoint kept under another name has its own record (``best.pt`` -> ``best.json``), as the inference
    bundles read it, not the ``model.json`` of other weights in the same folder."""
    from unet3d_monai.inference import read_model_record

    torch.save({}, tmp_path / "best.pt")
    (tmp_path / "model.json").write_text('{"patch_size": [8, 16, 16]}')
    assert training_record(tmp_path / "best.pt") is None
    (tmp_path / "best.json").write_text('{"patch_size": [16, 32, 32]}')
    assert training_record(tmp_path / "best.pt") == {"patch_size": [16, 32, 32]}
    assert training_record(tmp_path / "best.pt") == read_model_record(tmp_path / "best.pt")
