"""Resampling to the model's voxel size as steps of the prediction chain, alone and in a bundle run."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.bundle import run as run_bundle
from monai.transforms import Compose

from unet3d_monai.data import Normalized
from unet3d_monai.inference import LoadVolumed, ToInputGridd, ToModelGridd, predict
from unet3d_monai.inference.rescale import to_input_grid, to_model_grid

ROOT = Path(__file__).resolve().parents[2]


def _write(path, data, element_size_um=None):
    with h5py.File(path, "w") as f:
        f["raw"] = data
        if element_size_um is not None:
            f["raw"].attrs["element_size_um"] = element_size_um
    return path


def _load(path, **options):
    chain = Compose([LoadVolumed("image"), Normalized("image", mode="none"), ToModelGridd("image", **options)])
    return chain({"image": str(path)})


def test_an_input_of_another_voxel_size_goes_to_the_models_grid_and_back(tmp_path):
    path = _write(tmp_path / "a.h5", np.full((8, 12, 12), 3.0, np.float32), element_size_um=[2.0, 1.0, 1.0])
    data = _load(path, voxel_size=[1.0, 1.0, 1.0])
    # z voxels of 2 um are twice as many at 1 um; y and x already match
    assert tuple(data["image"].shape) == (1, 16, 12, 12)
    assert data["image_meta_dict"]["input_spatial_shape"].tolist() == [8, 12, 12]
    data["pred"] = torch.full((2, 16, 12, 12), 0.25)
    back = ToInputGridd(["pred", "image"])(data)
    assert tuple(back["pred"].shape) == (2, 8, 12, 12) and tuple(back["image"].shape) == (1, 8, 12, 12)
    # a constant survives trilinear resampling exactly
    np.testing.assert_allclose(np.asarray(back["pred"]), 0.25, rtol=0, atol=1e-7)
    np.testing.assert_allclose(np.asarray(back["image"]), 3.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "options, element_size_um",
    [
        ({"voxel_size": [1.0, 1.0, 1.0], "enabled": "false"}, [2.0, 1.0, 1.0]),  # --rescale false
        ({"voxel_size": None}, [2.0, 1.0, 1.0]),  # the model's voxel size is unknown
        ({"voxel_size": [1.0, 1.0, 1.0]}, None),  # the input's voxel size is unknown
        ({"voxel_size": [1.0, 1.0, 1.0]}, [1.04, 1.0, 0.97]),  # within 5%
    ],
)
def test_inputs_left_as_they_are(tmp_path, options, element_size_um):
    path = _write(tmp_path / "a.h5", np.arange(8 * 12 * 12, dtype=np.float32).reshape(8, 12, 12), element_size_um)
    data = _load(path, **options)
    np.testing.assert_array_equal(np.asarray(data["image"])[0], np.arange(8 * 12 * 12).reshape(8, 12, 12))
    data["pred"] = data["image"]
    assert ToInputGridd(["pred", "image"])(data)["pred"] is data["image"]


def test_input_grid_needs_the_model_grid_step(tmp_path):
    path = _write(tmp_path / "a.h5", np.ones((4, 8, 8), np.float32))
    data = Compose([LoadVolumed("image")])({"image": str(path)})
    data["pred"] = data["image"]
    with pytest.raises(KeyError, match="put ToModelGridd in the preprocessing"):
        ToInputGridd("pred")(data)


def test_bundle_predicts_at_the_models_voxel_size_and_writes_on_the_inputs_grid(tmp_path):
    raw = (np.random.RandomState(0).rand(8, 20, 18) * 1000).astype(np.float32)
    path = _write(tmp_path / "vol.h5", raw, element_size_um=[2.0, 1.0, 1.0])
    overrides = {"network_def#f_maps": [4, 8], "network_def#num_groups": 2}
    parser = ConfigParser()
    parser.read_config(str(ROOT / "bundles" / "nuclei" / "inference.json"))
    parser.update(overrides)
    torch.manual_seed(0)
    network = parser.get_parsed_content("network_def")
    torch.save(network.state_dict(), tmp_path / "model.pt")
    options = {
        "input": str(path),
        "ckpt_path": str(tmp_path / "model.pt"),
        "roi_size": [8, 16, 16],
        "device": "cpu",
        "progress": False,
        "cpu_bf16": False,
        "voxel_size": [1.0, 1.0, 1.0],
        **overrides,
    }
    run_bundle(
        config_file=str(ROOT / "bundles" / "nuclei" / "inference.json"), output_dir=str(tmp_path / "out"), **options
    )
    stored = raw.astype(np.float64)
    normalized = ((stored - stored.mean()) / stored.std()).astype(np.float32)[None]
    on_model_grid = to_model_grid(normalized, (2.0, 1.0, 1.0)).numpy()
    assert on_model_grid.shape == (1, 16, 20, 18)
    expected = to_input_grid(predict(network, on_model_grid, (8, 16, 16), device="cpu"), (8, 20, 18)).numpy()
    with h5py.File(tmp_path / "out" / "vol_predictions.h5", "r") as f:
        np.testing.assert_allclose(f["predictions"][()], expected, atol=1e-5)
    # block-wise prediction rescales too: the same predictions, block by block
    run_bundle(
        config_file=str(ROOT / "bundles" / "nuclei" / "inference.json"),
        output_dir=str(tmp_path / "blocks"),
        blockwise=True,
        block_shape=[8, 8, 8],
        **options,
    )
    with h5py.File(tmp_path / "blocks" / "vol_predictions.h5", "r") as f:
        np.testing.assert_allclose(f["predictions"][()], expected, atol=1e-5)
