"""Every example configuration of pytorch-3dunet converts; each converted bundle trains for two iterations and predicts
on synthetic data of its kind (paths and sizes overridden to keep each run to seconds).

The configurations are read from ``../shared/seed/configs`` (not shipped); without them these tests are skipped.
"""

import json

import h5py
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, verify_net_in_out
from monai.bundle import run as run_bundle

from tests.conftest import SEED_CONFIGS, seed_config_files
from unet3d_monai.compat import convert_pytorch3dunet_config, write_bundle
from unet3d_monai.data import Normalize
from unet3d_monai.data.sample import write_sample_dataset
from unet3d_monai.inference import predict

CONFIG_FILES = seed_config_files()
pytestmark = pytest.mark.skipif(
    not CONFIG_FILES, reason=f"pytorch-3dunet's example configs are not at {SEED_CONFIGS} (../shared is absent)"
)

# example folder -> synthetic sample task of the same kind
TASKS = {
    "2DUnet_confocal_boundary": "boundary",
    "2DUnet_dsb2018": "dsb2018_2d",
    "3DUnet_confocal_boundary": "boundary",
    "3DUnet_denoising": "denoising",
    "3DUnet_lightsheet_boundary": "lightsheet_boundary",
    "3DUnet_lightsheet_nuclei": "nuclei",
    "3DUnet_multiclass": "multiclass",
}
SHAPES = {"dsb2018_2d": (1, 48, 48)}


@pytest.fixture(scope="module")
def sample_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("samples")
    made = {}

    def get(task):
        if task not in made:
            shape = SHAPES.get(task, (16, 40, 40))
            made[task] = write_sample_dataset(task, root / task, shape=shape, n_train=1, n_val=1, n_test=1)
        return made[task]

    return get


def _is_2d(bundle_config):
    return bundle_config["network_def"]["_target_"].endswith("2D")


def _small_network(bundle_config):
    """Two levels of 8 and 16 feature maps (GroupNorm of 4 groups) instead of the example's network."""
    small = {"network_def#f_maps": [8, 16]}
    if "g" in bundle_config["network_def"].get("layer_order", "gcr"):
        small["network_def#num_groups"] = 4
    return small


def _sizes(bundle_config):
    if "crop_size" in bundle_config and "patch_size" not in bundle_config:  # whole 2D images cropped to crop_size
        return {"crop_size": [32, 32]}
    patch = [1, 32, 32] if _is_2d(bundle_config) else [16, 32, 32]
    stride = [16, 32, 32]  # 2 x 2 windows per z position, 1 z position in 3D and 2 in 2D
    return {"patch_size": patch, "stride_size": stride, "val_patch_size": patch, "val_stride_size": stride}


def _roi(bundle_config):
    return [1, 32, 32] if _is_2d(bundle_config) else [16, 32, 32]


def _network(inference_config, overrides):
    parser = ConfigParser(inference_config)
    parser.update(overrides)
    return parser.get_parsed_content("network_def")


def _expected_predictions(network, raw, inference_config, roi):
    """The probabilities of the bundle's network, computed directly with the package's in-memory prediction."""
    raw = Normalize(inference_config["normalization"])(raw)
    if _is_2d(inference_config) and raw.ndim == 3:
        raw = raw[None]  # (C, Z, Y, X): a 2D network predicts slice by slice
    network.eval()
    return predict(network, raw, roi_size=roi, overlap=inference_config["overlap"], progress=False)


def _check_predictions(output, network, raw_path, inference_config, roi, out_channels):
    with h5py.File(raw_path) as f:
        raw = f["raw"][()]
    with h5py.File(output) as f:
        predictions = f["predictions"][()]
        segmentation = f["segmentation"][()] if "segmentation" in f else None
    spatial = raw.shape[-2:] if raw.shape[0] == 1 and len(raw.shape) == 3 else raw.shape
    assert predictions.shape[0] == out_channels and predictions.shape[-len(spatial) :] == tuple(spatial)
    expected = _expected_predictions(network, raw, inference_config, roi)
    np.testing.assert_allclose(predictions.reshape(expected.shape), expected, atol=1e-4, rtol=1e-4)
    if inference_config["save_segmentation"]:
        assert segmentation is not None and segmentation.dtype == np.uint32
        if inference_config["segmentation_mode"] == "argmax":
            np.testing.assert_array_equal(segmentation.reshape(spatial), expected.argmax(0).reshape(spatial))
        elif inference_config["segmentation_mode"] == "threshold":
            np.testing.assert_array_equal(segmentation.reshape(spatial), (expected[0] > 0.5).reshape(spatial))
        else:  # connected components of the foreground
            np.testing.assert_array_equal(segmentation.reshape(spatial) > 0, (expected[0] > 0.5).reshape(spatial))
    else:
        assert segmentation is None


def _ids(path):
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("path", CONFIG_FILES, ids=_ids)
def test_seed_config_converts_trains_and_predicts(path, sample_data, tmp_path):
    data = sample_data(TASKS[path.parent.name])
    bundle = convert_pytorch3dunet_config(path)
    bundle_dir = write_bundle(bundle, tmp_path / "bundle")
    assert (bundle_dir / "metadata.json").is_file() and str(path) in (bundle_dir / "README.md").read_text()
    inference = json.loads((bundle_dir / "inference.json").read_text())
    small = _small_network(inference)
    roi = _roi(inference)
    meta, config_file = str(bundle_dir / "metadata.json"), str(bundle_dir / "inference.json")
    verify_net_in_out("network_def", meta_file=meta, config_file=config_file, **small)  # MONAI's bundle tools work
    models = tmp_path / "models"
    if bundle.train is not None:
        train = json.loads((bundle_dir / "train.json").read_text())
        overrides = {
            "train_files": [str(data / "train")],
            "val_files": [str(data / "val")],
            "label_key": "label",
            "ckpt_dir": str(models),
            "max_num_iterations": 2,
            "validate_after_iters": 2,
            "log_after_iters": 1,
            "num_workers": 0,
            "batch_size": 2 if "crop_size" in train else 1,
            **small,
            **_sizes(train),
        }
        run_bundle("training", config_file=str(bundle_dir / "train.json"), **overrides)
        state = torch.load(models / "last.pt", weights_only=True)
        assert state["trainer"]["iteration"] == 2
        assert np.isfinite(state["checkpointer"]["best_metric"])
        weights = {"ckpt_dir": str(models)}
        network = _network(inference, small)
        network.load_state_dict(torch.load(models / "model.pt", weights_only=True), strict=True)
    else:
        torch.manual_seed(0)
        network = _network(inference, small)
        checkpoint = tmp_path / "best_checkpoint.pytorch"
        torch.save({"model_state_dict": network.state_dict()}, checkpoint)  # a pytorch-3dunet checkpoint
        weights = {"ckpt_path": str(checkpoint)}
    output_dir = tmp_path / "predictions"
    run_bundle(
        "run",
        config_file=str(bundle_dir / "inference.json"),
        input=str(data / "test"),
        output_dir=str(output_dir),
        roi_size=roi,
        progress=False,
        **weights,
        **small,
    )
    outputs = sorted(output_dir.glob("*_predictions.h5"))
    assert [o.name for o in outputs] == [f"{f.stem}_predictions.h5" for f in sorted((data / "test").glob("*.h5"))]
    raw_path = sorted((data / "test").glob("*.h5"))[0]
    _check_predictions(outputs[0], network, raw_path, inference, roi, inference["out_channels"])
