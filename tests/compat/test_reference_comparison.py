"""The same pytorch-3dunet configuration run through pytorch-3dunet (its Python API) and through the converted bundle:
the network's logits for the same checkpoint and window, the loss on the same batch, the metric on the same
prediction, and the predictions of the same checkpoint on the same volume.

Predictions agree where a voxel is covered by one window only. Where windows overlap they differ on purpose:
pytorch-3dunet writes the later window over the earlier one, the bundle blends the windows with Gaussian weights.

Needs pytorch-3dunet (``pip install --no-deps pytorch3dunet==1.9.6``, the ``reference`` test extra) and its example
configurations in ``../shared/seed/configs``; skipped otherwise.
"""

import copy

import h5py
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from skimage.segmentation import find_boundaries

from tests.conftest import SEED_CONFIGS, seed_config_files
from unet3d_monai.compat import convert_pytorch3dunet_config, read_pytorch3dunet_config
from unet3d_monai.compat.cli import run_bundle_config
from unet3d_monai.data.sample import generate_volume

pytest.importorskip("pytorch3dunet", reason="pytorch-3dunet is not installed (pip install --no-deps pytorch3dunet)")
from pytorch3dunet.datasets.utils import get_test_loaders  # noqa: E402
from pytorch3dunet.predict import get_predictor  # noqa: E402
from pytorch3dunet.unet3d.losses import get_loss_criterion  # noqa: E402
from pytorch3dunet.unet3d.metrics import get_evaluation_metric  # noqa: E402
from pytorch3dunet.unet3d.model import get_model  # noqa: E402

TRAIN_CONFIGS = [p for p in seed_config_files() if p.name.startswith("train")]
pytestmark = pytest.mark.skipif(
    not TRAIN_CONFIGS, reason=f"pytorch-3dunet's example configs are not at {SEED_CONFIGS} (../shared is absent)"
)
SMALL_MODEL = {"f_maps": [8, 16], "num_groups": 4}


def _ids(path):
    return f"{path.parent.name}/{path.name}"


def _small(config):
    config = copy.deepcopy(config)
    config["model"].update(SMALL_MODEL)
    config["model"].pop("num_levels", None)
    config["device"] = "cpu"
    return config


def _parsed(content, *ids, **overrides):
    parser = ConfigParser(copy.deepcopy(content))
    parser.update(overrides)
    return [parser.get_parsed_content(i) for i in ids]


def _window(config):
    shape = (2, 1, 32, 32) if config["model"]["name"].endswith("2D") else (2, 1, 16, 32, 32)
    return torch.randn(shape, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=_ids)
def test_logits_of_the_same_checkpoint_and_window(path, tmp_path):
    config = _small(read_pytorch3dunet_config(path))
    torch.manual_seed(0)
    reference = get_model(config["model"]).eval()
    checkpoint = tmp_path / "best_checkpoint.pytorch"
    torch.save({"model_state_dict": reference.state_dict()}, checkpoint)
    bundle = convert_pytorch3dunet_config(config)
    (network,) = _parsed(bundle.inference, "network", ckpt_path=str(checkpoint), device="cpu")
    x = _window(config)
    with torch.no_grad():
        _, expected = reference(x, return_logits=True)
        torch.testing.assert_close(network.eval()(x), expected, rtol=1e-5, atol=1e-5)


def _instances(task, shape):
    _, label = generate_volume(task, shape=shape, seed=3)
    return torch.from_numpy(label.astype(np.int64))


def _batch(config, generator):
    """Logits and the target the configuration's label transforms produce, for a batch of one synthetic sample."""
    name, out = config["loss"]["name"], config["model"]["out_channels"]
    is_2d = config["model"]["name"].endswith("2D")
    shape = (1, 32, 32) if is_2d else (8, 24, 24)
    spatial = shape[1:] if is_2d else shape
    logits = torch.randn((1, out, *spatial), generator=generator)
    if name == "CrossEntropyLoss":
        return logits, torch.randint(0, out, (1, *spatial), generator=generator)
    if name in ("SmoothL1Loss", "MSELoss", "L1Loss"):
        return logits, torch.rand((1, 1, *spatial), generator=generator) * 2 - 1
    labels = _instances("dsb2018_2d" if is_2d else "boundary", (1, 32, 32) if is_2d else shape).reshape(spatial)
    binary = torch.from_numpy(find_boundaries(labels.numpy(), mode="thick")).float()
    return logits, torch.stack([binary, labels.float()])[None]


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=_ids)
def test_loss_on_the_same_batch(path):
    config = _small(read_pytorch3dunet_config(path))
    logits, target = _batch(config, torch.Generator().manual_seed(2))
    expected = get_loss_criterion(copy.deepcopy(config))(logits, target)
    (loss,) = _parsed(convert_pytorch3dunet_config(config).train, "loss")
    ours_target = target[:, None].float() if target.dtype == torch.int64 else target
    torch.testing.assert_close(loss(logits, ours_target), expected, rtol=1e-5, atol=1e-6)


def _prediction_and_target(config):
    """Probabilities near the truth (the truth blurred by noise) and the target of the configuration's metric."""
    metric = config["eval_metric"]["name"]
    rng = np.random.default_rng(4)
    is_2d = config["model"]["name"].endswith("2D")
    if metric == "MeanIoU":
        _, classes = generate_volume("multiclass", shape=(16, 48, 48), seed=5)
        logits = np.eye(3)[classes].transpose(3, 0, 1, 2) * 4 + rng.normal(0, 1.5, (3, *classes.shape))
        probabilities = torch.softmax(torch.from_numpy(logits).float(), dim=0)[None]
        return probabilities, torch.from_numpy(classes.astype(np.int64))[None]
    if metric == "PSNR":
        clean = rng.uniform(0, 1, (1, 1, 8, 24, 24))
        clean = torch.from_numpy(2 * (clean - clean.min()) / (clean.max() - clean.min()) - 1).float()  # Normalize
        return clean + torch.from_numpy(rng.normal(0, 0.1, clean.shape)).float(), clean
    task = "dsb2018_2d" if is_2d else "nuclei" if "Blobs" in metric else "boundary"
    _, labels = generate_volume(task, shape=(1, 64, 64) if is_2d else (16, 48, 48), seed=5)
    labels = labels.astype(np.int64)
    truth = (labels > 0) if "Blobs" in metric else find_boundaries(labels, mode="thick")
    noisy = np.clip(truth + rng.normal(0, 0.2, truth.shape), 0, 1).astype(np.float32)
    target = torch.stack([torch.from_numpy(truth.astype(np.float32)), torch.from_numpy(labels).float()])
    return torch.from_numpy(noisy)[None, None], target[None]


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=_ids)
def test_metric_on_the_same_prediction(path):
    config = _small(read_pytorch3dunet_config(path))
    probabilities, target = _prediction_and_target(config)
    expected = float(get_evaluation_metric(copy.deepcopy(config))(probabilities, target))
    bundle = convert_pytorch3dunet_config(config)
    overrides = {}
    if config["eval_metric"]["name"] == "BoundaryAdaptedRandError":
        overrides["val_metric#grow_segments"] = False  # pytorch-3dunet's scoring of the boundary band
    (handler,) = _parsed(bundle.train, "val_metric", **overrides)
    metric = handler.metric_fn
    ours_target = target[:, None].float() if target.dtype == torch.int64 else target
    metric(y_pred=probabilities, y=ours_target)
    assert float(metric.aggregate()) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_predictions_of_the_same_checkpoint_on_the_same_volume(tmp_path):
    path = SEED_CONFIGS / "3DUnet_confocal_boundary" / "test_config.yml"
    config = _small(read_pytorch3dunet_config(path))
    raw, _ = generate_volume("boundary", shape=(16, 40, 40), seed=6)
    volume = tmp_path / "volume.h5"
    with h5py.File(volume, "w") as f:
        f["raw"] = raw
    torch.manual_seed(0)
    reference = get_model(config["model"])
    checkpoint = tmp_path / "best_checkpoint.pytorch"
    torch.save({"model_state_dict": reference.state_dict()}, checkpoint)
    # windows of 16x32x32 without halo: along y and x the second window starts at 8 and overlaps the first
    config["model_path"] = str(checkpoint)
    config["loaders"]["num_workers"] = 0
    config["loaders"]["test"]["file_paths"] = [str(volume)]
    config["loaders"]["test"]["slice_builder"].update(
        {"patch_shape": [16, 32, 32], "stride_shape": [16, 32, 32], "halo_shape": [0, 0, 0], "skip_shape_check": True}
    )
    for name, output_dir in (("reference", tmp_path / "reference"), ("ours", tmp_path / "ours")):
        config["loaders"]["output_dir"] = str(output_dir)
        output_dir.mkdir()
        if name == "reference":
            predictor = get_predictor(reference.eval(), copy.deepcopy(config))
            for loader in get_test_loaders(copy.deepcopy(config)):
                predictor(loader)
        else:
            run_bundle_config(convert_pytorch3dunet_config(config).inference, "run", {"progress": False})
    with h5py.File(tmp_path / "reference" / "volume_predictions.h5") as f:
        expected = f["predictions"][()]
    with h5py.File(tmp_path / "ours" / "volume_predictions.h5") as f:
        ours = f["predictions"][()]
    assert ours.shape == expected.shape == (1, 16, 40, 40)
    single = np.zeros((40, 40), dtype=bool)  # voxels of one window only: y or x outside [8, 32) on both axes
    outside = np.r_[0:8, 32:40]
    single[np.ix_(outside, outside)] = True
    np.testing.assert_allclose(ours[..., single], expected[..., single], atol=1e-5, rtol=1e-4)
    overlap = ~single
    assert not np.allclose(ours[..., overlap], expected[..., overlap], atol=1e-5)
