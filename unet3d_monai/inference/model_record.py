"""The record kept next to trained weights: how to rebuild the network and how it was trained to see data.

Training writes ``<ckpt_dir>/model.json`` beside ``<ckpt_dir>/model.pt`` each time it saves the best weights::

    {
      "network": {"_target_": "unet3d_monai.networks.UNet3D", "in_channels": 1, "out_channels": 1, ...},
      "spatial_dims": 3,
      "patch_size": [32, 96, 96],
      "normalization": "standardize",
      "final_activation": "sigmoid",
      "task": "boundary",
      "voxel_size": [2.0, 1.0, 1.0],
      "plan": {"entries": {"patch_size": {"value": [32, 96, 96], "reason": "...", "source": "planned"}, ...},
               "memory": {...}, "fingerprint": {...}},
      "segmentation": {"settings": {"mode": "foreground_watershed", "threshold": 0.5, "min_distance": 5,
                                    "min_size": 21},
                       "min_distance_um": 1.25, "metric": "val_mean_ap", "score": 0.81, "start_score": 0.78,
                       "higher_is_better": true, "volumes": 2, "trials": [{"settings": {...}, "score": 0.78}, ...]}
    }

The inference bundles read it, so a trained model predicts with the window (``patch_size``) and the
normalisation it was trained and validated with unless told otherwise, and resample inputs of another voxel size
to ``voxel_size`` (the training data's, null when unknown). ``plan`` holds the training plan with the reason for
each value (:class:`unet3d_monai.planning.TrainingPlan`). ``segmentation`` holds the segmentation settings chosen
on the validation volumes when training ended (:class:`unet3d_monai.handlers.ChooseSegmentation`), with the score
of every setting tried; prediction uses them for the same ``segmentation_mode`` unless told otherwise
(:func:`recorded_segmentation`). ``min_distance`` counts voxels of the finest axis of ``voxel_size``, and
``min_distance_um`` says how long that is. A pytorch-3dunet checkpoint has no record; the bundle's own values
apply then.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from unet3d_monai.io.atomic import atomic_write

__all__ = [
    "model_record_path",
    "read_model_record",
    "recorded",
    "recorded_network_argument",
    "recorded_segmentation",
    "update_model_record",
    "write_model_record",
]

RECORD_KEYS = (
    "network",
    "spatial_dims",
    "patch_size",
    "normalization",
    "final_activation",
    "task",
    "voxel_size",
    "plan",
    "segmentation",
)


def model_record_path(ckpt_path: str | os.PathLike) -> Path:
    """Where the record of ``ckpt_path`` lives: the same name with the suffix ``.json`` (``model.pt`` ->
    ``model.json``)."""
    return Path(ckpt_path).with_suffix(".json")


def _final_activation(network: nn.Module) -> str:
    activation = getattr(network, "final_activation", None)
    if isinstance(activation, nn.Sigmoid):
        return "sigmoid"
    if isinstance(activation, nn.Softmax):
        return "softmax"
    return "identity"


def _network_config(network: nn.Module) -> dict[str, Any] | None:
    arguments = getattr(network, "arguments", None)
    if not isinstance(arguments, dict):
        return None
    return {"_target_": f"unet3d_monai.networks.{type(network).__name__}", **arguments}


def write_model_record(
    ckpt_path: str | os.PathLike,
    network: nn.Module,
    patch_size: Sequence[int],
    normalization: str,
    task: str | None = None,
    voxel_size: Sequence[float] | None = None,
    plan: Mapping[str, Any] | None = None,
) -> Path:
    """Write the record of the weights at ``ckpt_path`` (atomically, beside them); returns its path.

    Args:
        ckpt_path: the weights file the record describes (``model.pt``).
        network: the trained network (a DataParallel/DDP wrapper is unwrapped).
        patch_size: the training patch, spatial sizes only; prediction uses it as its default window.
        normalization: the intensity normalisation of the training data (a ``Normalize`` mode).
        task: the bundle or task name.
        voxel_size: the voxel size of the training data (None: unknown); prediction resamples to it.
        plan: the training plan (``TrainingPlan.to_dict()``), kept for the record.

    Example::

        write_model_record("models/model.pt", network, patch_size=(32, 96, 96), normalization="standardize")
    """
    network = network.module if hasattr(network, "module") else network
    spatial_dims = getattr(network, "spatial_dims", None)
    record = {
        "network": _network_config(network),
        "spatial_dims": int(spatial_dims) if spatial_dims is not None else len(patch_size),
        "patch_size": [int(p) for p in patch_size],
        "normalization": str(normalization),
        "final_activation": _final_activation(network),
        "task": task,
        "voxel_size": None if voxel_size is None else [float(v) for v in voxel_size],
        "plan": None if plan is None else dict(plan),
    }
    path = model_record_path(ckpt_path)
    with atomic_write(path, "w") as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
    return path


def update_model_record(ckpt_path: str | os.PathLike, **entries: Any) -> Path:
    """Set ``entries`` (keys of ``RECORD_KEYS``) in the record of the weights at ``ckpt_path``, keeping the rest;
    written atomically. Returns the record's path.

    Raises:
        FileNotFoundError: the weights have no record yet.
        ValueError: an entry is not a record key.
    """
    unknown = sorted(set(entries) - set(RECORD_KEYS))
    if unknown:
        raise ValueError(f"Unknown model record key(s) {unknown}; expected some of {RECORD_KEYS}.")
    record = read_model_record(ckpt_path)
    if record is None:
        raise FileNotFoundError(f"The weights '{ckpt_path}' have no model record ({model_record_path(ckpt_path)}).")
    record.update(entries)
    path = model_record_path(ckpt_path)
    with atomic_write(path, "w") as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
    return path


def read_model_record(ckpt_path: str | os.PathLike | None) -> dict[str, Any] | None:
    """The record of the weights at ``ckpt_path``, or None when there is none (e.g. a pytorch-3dunet checkpoint).

    Raises:
        ValueError: the record exists but is not a JSON object.
    """
    if ckpt_path is None:
        return None
    path = model_record_path(ckpt_path)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"Model record '{path}' is not valid JSON ({error.msg} at line {error.lineno}).") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"Model record '{path}' is not valid JSON (it is not UTF-8 text: {error.reason}).") from None
    if not isinstance(record, dict):
        raise ValueError(f"Model record '{path}' must hold a JSON object, got {type(record).__name__}.")
    return record


def recorded(ckpt_path: str | os.PathLike | None, key: str, default: Any) -> Any:
    """``key`` of the record of ``ckpt_path``, or ``default`` when there is no record or it lacks ``key``.

    The inference bundles use it for their defaults, e.g.
    ``"roi_size": "$unet3d_monai.inference.recorded(@ckpt_path, 'patch_size', [80, 170, 170])"``.
    """
    if key not in RECORD_KEYS:
        raise ValueError(f"Unknown model record key {key!r}; expected one of {RECORD_KEYS}.")
    record = read_model_record(ckpt_path)
    if record is None or record.get(key) is None:
        return default
    return record[key]


def recorded_network_argument(ckpt_path: str | os.PathLike | None, name: str, default: Any) -> Any:
    """Argument ``name`` of the recorded network, or ``default`` without a record or that argument.

    The inference bundles use it for arguments the training plan may have changed, e.g.
    ``"pool_kernel_size": "$unet3d_monai.inference.recorded_network_argument(@ckpt_path, 'pool_kernel_size', 2)"``.
    """
    network = recorded(ckpt_path, "network", None)
    if not isinstance(network, dict) or network.get(name) is None:
        return default
    return network[name]


def recorded_segmentation(ckpt_path: str | os.PathLike | None, mode: str, name: str, default: Any) -> Any:
    """Setting ``name`` (``threshold``, ``min_distance``, ``min_size``, ``merge_weak``) of the segmentation chosen
    on validation for the weights at ``ckpt_path``, when it was chosen for ``mode``; ``default`` otherwise (no
    record, no choice, another mode, or a setting the mode does not use).

    The inference bundles use it for their segmentation defaults, e.g. ``"min_distance":
    "$unet3d_monai.inference.recorded_segmentation(@ckpt_path, @segmentation_mode, 'min_distance', 5)"``.
    """
    choice = recorded(ckpt_path, "segmentation", None)
    settings = choice.get("settings") if isinstance(choice, dict) else None
    if not isinstance(settings, dict) or str(settings.get("mode")) != str(mode) or settings.get(name) is None:
        return default
    return settings[name]
