"""pytorch-3dunet 1.9.6 as the reference of the quality benchmark: its recipes, trainer and predictor.

For each bundle, :func:`recipe` builds the configuration of the matching pytorch-3dunet example
(``3DUnet_confocal_boundary``, ``3DUnet_lightsheet_boundary``, ``3DUnet_lightsheet_nuclei``,
``3DUnet_denoising``, ``3DUnet_multiclass``, ``2DUnet_dsb2018``): its model, loss, evaluation metric,
optimizer, learning-rate schedule, slice builder and augmentation lists. What the benchmark sets instead of
the example: the data files, the patch and batch size, the number of iterations and validations (the same
budget as the bundle), the number of loader workers, the device and the seed. Deliberate departures, each
forced by the data or by pytorch-3dunet 1.9.6 itself:

- training stride is a quarter of the patch, as in the examples (patch 80x170x170, stride 20x40x40);
- ``random_scale`` is left out: with the examples' own strides it fails pytorch-3dunet's check
  ``random_scale < stride`` (20 is not below 20), and it cannot be below a stride of 8 voxels;
- ``2DUnet_dsb2018`` reads folders of PNG files (``DSB2018Dataset``); the synthetic data are HDF5 files of
  shape ``(1, Y, X)``, so it runs on ``StandardHDF5Dataset`` with patches ``(1, *patch)`` (instead of
  ``CropToFixed``) and per-image statistics (``global_normalization``), as DSB2018Dataset standardises
  each image;
- the denoising example's target dataset is named ``random``; the synthetic data call it ``label``.

Run by ``benchmarks/quality.py`` in a subprocess (so that its wall-clock time is measured like the bundle's)::

    python benchmarks/_reference.py train SPEC.json
    python benchmarks/_reference.py predict SPEC.json

``SPEC.json`` holds ``bundle``, ``train_files``, ``val_files``, ``test_files``, ``patch_size``,
``batch_size``, ``iterations``, ``validate_every``, ``num_workers``, ``seed``, ``checkpoint_dir`` and
``output_dir``.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

EXAMPLES = {
    "boundary": "3DUnet_confocal_boundary",
    "lightsheet_boundary": "3DUnet_lightsheet_boundary",
    "nuclei": "3DUnet_lightsheet_nuclei",
    "denoising": "3DUnet_denoising",
    "multiclass": "3DUnet_multiclass",
    "dsb2018_2d": "2DUnet_dsb2018",
}
"""The pytorch-3dunet example config each bundle follows."""

_STANDARDIZE = [{"name": "Standardize"}]
_TO_TENSOR = {"name": "ToTensor", "expand_dims": True}


def _geometric(angle: int) -> list[dict]:
    """The examples' flips and rotations (the same random state drives raw and label)."""
    return [
        {"name": "RandomFlip"},
        {"name": "RandomRotate90"},
        # rotate only in the YX plane due to anisotropy
        {"name": "RandomRotate", "axes": [[2, 1]], "angle_spectrum": angle, "mode": "reflect"},
    ]


def _intensity_noise() -> list[dict]:
    return [
        {"name": "GaussianBlur3D", "execution_probability": 0.5},
        {"name": "AdditiveGaussianNoise", "execution_probability": 0.2},
        {"name": "AdditivePoissonNoise", "execution_probability": 0.2},
    ]


def _model(
    name: str,
    f_maps: int | list[int],
    out_channels: int = 1,
    layer_order: str = "gcr",
    final_sigmoid: bool | None = None,
    is_segmentation: bool | None = None,
) -> dict:
    """An example's ``model`` section: one input channel and 8 groups, as in all of them; ``final_sigmoid`` and
    ``is_segmentation`` are left out when None (the example leaves them to pytorch-3dunet's defaults)."""
    model = {
        "name": name,
        "in_channels": 1,
        "out_channels": out_channels,
        "layer_order": layer_order,
        "f_maps": f_maps,
        "num_groups": 8,
    }
    if final_sigmoid is not None:
        model["final_sigmoid"] = final_sigmoid
    if is_segmentation is not None:
        model["is_segmentation"] = is_segmentation
    return model


def _boundary_recipe(model_name: str, lr_factor: float, lr_patience: int) -> dict:
    """3DUnet_confocal_boundary and 3DUnet_lightsheet_boundary (they differ in the network and the schedule)."""
    elastic = {"name": "ElasticDeformation", "spline_order": 3}
    return {
        "model": _model(model_name, 32, final_sigmoid=True),
        "loss": {"name": "BCEDiceLoss", "ignore_index": None, "skip_last_target": True},
        # as in the examples; 1.9.6 reads `thresholds`, so `threshold` is ignored and its defaults apply
        "eval_metric": {
            "name": "BoundaryAdaptedRandError",
            "threshold": 0.4,
            "use_last_target": True,
            "use_first_input": True,
        },
        "lr_scheduler": {"name": "ReduceLROnPlateau", "mode": "min", "factor": lr_factor, "patience": lr_patience},
        "higher_is_better": False,
        "global_normalization": True,
        "slice_builder": {"name": "FilterSliceBuilder", "threshold": 0.6, "slack_acceptance": 0.01},
        "train_raw": _STANDARDIZE + _geometric(45) + [elastic] + _intensity_noise() + [_TO_TENSOR],
        "train_label": _geometric(45)
        + [
            {"name": "ElasticDeformation", "spline_order": 0},
            {"name": "StandardLabelToBoundary", "append_label": True},
            {"name": "ToTensor", "expand_dims": False},
        ],
        "val_raw": _STANDARDIZE + [_TO_TENSOR],
        "val_label": [
            {"name": "StandardLabelToBoundary", "append_label": True},
            {"name": "ToTensor", "expand_dims": False},
        ],
    }


def _nuclei_recipe() -> dict:
    """3DUnet_lightsheet_nuclei."""
    return {
        "model": _model("UNet3D", [32, 64, 128, 256], final_sigmoid=True, is_segmentation=True),
        "loss": {"name": "BCEWithLogitsLoss", "skip_last_target": True},
        "eval_metric": {"name": "BlobsAveragePrecision", "thresholds": [0.4, 0.5, 0.6, 0.7, 0.8], "metric": "ap"},
        "lr_scheduler": {"name": "ReduceLROnPlateau", "mode": "max", "factor": 0.2, "patience": 8},
        "higher_is_better": True,
        "global_normalization": True,
        "slice_builder": {"name": "FilterSliceBuilder", "threshold": 0.01, "slack_acceptance": 0.01},
        "train_raw": _STANDARDIZE + _geometric(30) + [{"name": "ElasticDeformation", "spline_order": 3}, _TO_TENSOR],
        "train_label": _geometric(30)
        + [
            {"name": "ElasticDeformation", "spline_order": 0},
            {"name": "BlobsToMask", "append_label": True, "boundary": False},
            {"name": "ToTensor", "expand_dims": False},
        ],
        "val_raw": _STANDARDIZE + [_TO_TENSOR],
        "val_label": [
            {"name": "BlobsToMask", "append_label": True, "boundary": False},
            {"name": "ToTensor", "expand_dims": False},
        ],
    }


def _denoising_recipe() -> dict:
    """3DUnet_denoising (train_config_regression): min-max ``Normalize`` of raw and target, per patch."""
    normalize = [{"name": "Normalize"}]
    return {
        "model": _model("UNet3D", [16, 32, 64, 128, 256], is_segmentation=False),
        "loss": {"name": "SmoothL1Loss", "ignore_index": None},
        "eval_metric": {"name": "PSNR", "ignore_index": None},
        "lr_scheduler": {"name": "ReduceLROnPlateau", "mode": "max", "factor": 0.1, "patience": 10},
        "higher_is_better": True,
        "global_normalization": True,
        "slice_builder": {"name": "SliceBuilder"},
        "train_raw": normalize + _geometric(30) + [_TO_TENSOR],
        "train_label": normalize + _geometric(30) + [_TO_TENSOR],
        "val_raw": normalize + [_TO_TENSOR],
        "val_label": normalize + [_TO_TENSOR],
    }


def _multiclass_recipe() -> dict:
    """3DUnet_multiclass."""
    to_long = {"name": "ToTensor", "expand_dims": False, "dtype": "int64"}
    return {
        "model": _model("UNet3D", [32, 64, 128, 256], out_channels=3, final_sigmoid=False, is_segmentation=True),
        "loss": {"name": "CrossEntropyLoss"},
        "eval_metric": {"name": "MeanIoU"},
        "lr_scheduler": {"name": "ReduceLROnPlateau", "mode": "max", "factor": 0.2, "patience": 8},
        "higher_is_better": True,
        "global_normalization": False,
        "slice_builder": {"name": "FilterSliceBuilder", "threshold": 0.01, "slack_acceptance": 0.01},
        "train_raw": _STANDARDIZE + _geometric(30) + [{"name": "ElasticDeformation", "spline_order": 3}, _TO_TENSOR],
        "train_label": _geometric(30) + [{"name": "ElasticDeformation", "spline_order": 0}, to_long],
        "val_raw": _STANDARDIZE + [_TO_TENSOR],
        "val_label": [to_long],
    }


def _dsb2018_recipe() -> dict:
    """2DUnet_dsb2018 (on HDF5 files of shape (1, Y, X), see the module docstring)."""
    return {
        "model": _model("UNet2D", [32, 64, 128], layer_order="bcr", final_sigmoid=True, is_segmentation=True),
        "loss": {"name": "BCEDiceLoss", "skip_last_target": True},
        "eval_metric": {"name": "BlobsAveragePrecision", "use_last_target": True, "metric": "ap"},
        "lr_scheduler": {"name": "ReduceLROnPlateau", "mode": "max", "factor": 0.2, "patience": 30},
        "higher_is_better": True,
        "global_normalization": True,
        "slice_builder": {"name": "SliceBuilder"},
        "train_raw": _STANDARDIZE
        + _geometric(45)
        + [{"name": "ElasticDeformation", "spline_order": 3, "execution_probability": 0.2}]
        + _intensity_noise()
        + [_TO_TENSOR],
        "train_label": _geometric(45)
        + [
            {"name": "ElasticDeformation", "spline_order": 0, "execution_probability": 0.2},
            {"name": "Relabel"},
            {"name": "BlobsToMask", "append_label": True},
            {"name": "ToTensor", "expand_dims": True},
        ],
        "val_raw": _STANDARDIZE + [_TO_TENSOR],
        "val_label": [
            {"name": "Relabel"},
            {"name": "BlobsToMask", "append_label": True},
            {"name": "ToTensor", "expand_dims": True},
        ],
    }


_RECIPES = {
    "boundary": lambda: _boundary_recipe("UNet3D", lr_factor=0.5, lr_patience=30),
    "lightsheet_boundary": lambda: _boundary_recipe("ResidualUNet3D", lr_factor=0.2, lr_patience=20),
    "nuclei": _nuclei_recipe,
    "denoising": _denoising_recipe,
    "multiclass": _multiclass_recipe,
    "dsb2018_2d": _dsb2018_recipe,
}


def recipe(bundle: str) -> dict:
    """The facts of the pytorch-3dunet example that ``bundle`` follows (see the module docstring)."""
    if bundle not in _RECIPES:
        raise ValueError(f"No pytorch-3dunet recipe for bundle {bundle!r}; expected one of {sorted(_RECIPES)}.")
    return _RECIPES[bundle]()


def _volume_shape(path: str) -> tuple[int, ...]:
    with h5py.File(path, "r") as f:
        shape = f["raw"].shape
    return tuple(shape[-3:])


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _patch3d(patch_size: list[int]) -> list[int]:
    """pytorch-3dunet's slice builders take 3D shapes; a 2D patch ``(Y, X)`` becomes ``(1, Y, X)``."""
    return [1, *patch_size] if len(patch_size) == 2 else list(patch_size)


def train_config(spec: dict) -> dict:
    """The pytorch-3dunet training configuration of ``spec`` (a dict as described in the module docstring)."""
    facts = recipe(spec["bundle"])
    patch = _patch3d(spec["patch_size"])
    stride = [max(1, p // 4) for p in patch]
    validate_every = int(spec["validate_every"])
    dataset = {
        "dataset": "StandardHDF5Dataset",
        "batch_size": int(spec["batch_size"]),
        "num_workers": int(spec["num_workers"]),
        "raw_internal_path": "raw",
        "label_internal_path": "label",
        "global_normalization": facts["global_normalization"],
        "train": {
            "file_paths": list(spec["train_files"]),
            "slice_builder": {**facts["slice_builder"], "patch_shape": patch, "stride_shape": stride},
            "transformer": {"raw": facts["train_raw"], "label": facts["train_label"]},
        },
        "val": {
            "file_paths": list(spec["val_files"]),
            "slice_builder": {**facts["slice_builder"], "patch_shape": patch, "stride_shape": patch},
            "transformer": {"raw": facts["val_raw"], "label": facts["val_label"]},
        },
    }
    return {
        "device": _device(),
        "manual_seed": int(spec["seed"]),
        "model": facts["model"],
        "loss": facts["loss"],
        "eval_metric": facts["eval_metric"],
        "optimizer": {"learning_rate": 0.0002, "weight_decay": 0.00001},
        "lr_scheduler": facts["lr_scheduler"],
        "trainer": {
            "checkpoint_dir": spec["checkpoint_dir"],
            "resume": None,
            "pre_trained": None,
            "validate_after_iters": validate_every,
            # training-batch scores and images once per validation
            "log_after_iters": validate_every,
            "max_num_epochs": 1_000_000,
            # the trainer counts from 1 and stops once the count exceeds this: `iterations` steps in all
            "max_num_iterations": int(spec["iterations"]) - 1,
            "eval_score_higher_is_better": facts["higher_is_better"],
            "tensorboard_formatter": {"skip_last_target": spec["bundle"] != "denoising"},
        },
        "loaders": dataset,
    }


def _downsampling(model: dict) -> int:
    levels = len(model["f_maps"]) if isinstance(model["f_maps"], list) else model.get("num_levels", 4)
    return 2 ** (levels - 1)


def test_patch(volume_shape: tuple[int, ...], model: dict) -> list[int]:
    """The prediction patch: the whole volume where the network's pooling divides it, else the largest size
    below it that it divides (pytorch-3dunet's ``StandardPredictor`` does not blend overlapping patches)."""
    factor = _downsampling(model)
    first_spatial = 1 if model["name"] == "UNet2D" else 0
    patch = list(volume_shape)
    for axis in range(first_spatial, 3):
        if patch[axis] >= factor:
            patch[axis] = patch[axis] // factor * factor
    return patch


def predict_config(spec: dict) -> dict:
    """The pytorch-3dunet test-loader configuration of ``spec`` (one file per loader, as its predictor wants)."""
    facts = recipe(spec["bundle"])
    patch = test_patch(_volume_shape(spec["test_files"][0]), facts["model"])
    return {
        "device": _device(),
        "model": facts["model"],
        "loaders": {
            "dataset": "StandardHDF5Dataset",
            "batch_size": 1,
            "num_workers": int(spec["num_workers"]),
            "raw_internal_path": "raw",
            "global_normalization": facts["global_normalization"],
            "test": {
                "file_paths": list(spec["test_files"]),
                "slice_builder": {
                    "name": "SliceBuilder",
                    "patch_shape": patch,
                    "stride_shape": patch,
                    "halo_shape": [0, 0, 0],
                },
                "transformer": {"raw": facts["val_raw"]},
            },
        },
    }


def _seed(seed: int) -> None:
    # what pytorch-3dunet's train3dunet does with `manual_seed`; its augmentations have fixed seeds of their own
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(spec: dict) -> None:
    """Train with pytorch-3dunet's ``create_trainer(config).fit()``; weights in ``checkpoint_dir``."""
    from pytorch3dunet.unet3d.trainer import create_trainer

    config = train_config(spec)
    _seed(config["manual_seed"])
    Path(spec["checkpoint_dir"]).mkdir(parents=True, exist_ok=True)
    create_trainer(config).fit()


def best_checkpoint(checkpoint_dir: str | Path) -> Path:
    """``best_checkpoint.pytorch`` (written at each validation that improved the score)."""
    return Path(checkpoint_dir) / "best_checkpoint.pytorch"


def predict(spec: dict) -> None:
    """Predict ``test_files`` with the best weights and pytorch-3dunet's ``StandardPredictor``;
    writes ``<output_dir>/<stem>_predictions.h5`` (dataset ``predictions``, ``(C, Z, Y, X)``)."""
    from pytorch3dunet.datasets.utils import get_test_loaders
    from pytorch3dunet.unet3d.model import get_model
    from pytorch3dunet.unet3d.predictor import StandardPredictor

    from unet3d_monai.compat import load_pytorch3dunet_checkpoint

    config = predict_config(spec)
    model = get_model(dict(config["model"]))
    load_pytorch3dunet_checkpoint(best_checkpoint(spec["checkpoint_dir"]), model)
    model = model.to(config["device"])
    Path(spec["output_dir"]).mkdir(parents=True, exist_ok=True)
    predictor = StandardPredictor(model, spec["output_dir"], config["model"]["out_channels"], config["device"])
    for loader in get_test_loaders(config):
        predictor(loader)


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in ("train", "predict"):
        sys.exit("usage: python benchmarks/_reference.py {train,predict} SPEC.json")
    spec = json.loads(Path(argv[1]).read_text())
    (train if argv[0] == "train" else predict)(spec)


if __name__ == "__main__":
    main(sys.argv[1:])
