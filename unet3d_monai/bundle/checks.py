"""Every documented bundle option checked before any work, each problem reported in one sentence.

The bundles call these first in ``initialize`` (after :func:`~unet3d_monai.bundle.options.check_cli_overrides`),
so that a bad value stops the run before a dataset is generated, a network is built or a folder is created::

    "initialize": [
        "$unet3d_monai.bundle.check_cli_overrides()",
        "$unet3d_monai.bundle.check_training_options(epochs=@epochs, ..., device=@device)",
        "$unet3d_monai.bundle.check_training_outputs(@ckpt_dir, @output_dir, @resume, @overwrite)",
        ...
    ]

Options arrive as ``python -m monai.bundle`` parsed them (numbers, lists, strings such as ``"true"``) or as the
config wrote them; the messages name the option as it is written on the command line (``--learning_rate``).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from unet3d_monai.data.normalize import NormalizeMode
from unet3d_monai.data.patches import check_patch_size
from unet3d_monai.inference.volumes import find_volume_files
from unet3d_monai.inference.window_options import check_window_options
from unet3d_monai.io.locations import check_writable_folder
from unet3d_monai.io.voxel_size import check_voxel_size
from unet3d_monai.io.writers import OutputDtype
from unet3d_monai.networks.unet import pool_kernels_per_level
from unet3d_monai.planning.memory import parse_memory
from unet3d_monai.planning.timing import parse_step_seconds
from unet3d_monai.segmentation.segmenter import SegmentationMode

from .options import as_bool

__all__ = [
    "available_devices",
    "check_choice",
    "check_device",
    "check_inference_options",
    "check_integer",
    "check_number",
    "check_pool_kernel_size",
    "check_training_options",
    "check_training_outputs",
    "check_window_size",
]

#: files that hold an earlier run's weights in a checkpoint folder (best network, full training state)
TRAINED_WEIGHTS = ("model.pt", "last.pt")


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_integer(value: object, option: str, minimum: int = 0) -> int:
    """``value`` as an int, or one sentence saying that ``--option`` must be a whole number of at least ``minimum``.

    Example::

        >>> check_integer(4.0, "epochs", 1)
        4
    """
    if not _is_number(value) or not math.isfinite(value) or value != int(value) or value < minimum:
        raise ValueError(f"--{option} must be a whole number of at least {minimum}, got {value!r}.")
    return int(value)


def check_number(
    value: object,
    option: str,
    minimum: float | None = None,
    maximum: float | None = None,
    include_maximum: bool = True,
) -> float:
    """``value`` as a finite float within ``[minimum, maximum]`` (``maximum`` excluded unless ``include_maximum``).

    Example::

        >>> check_number(0.25, "overlap", 0.0, 1.0, include_maximum=False)
        0.25
    """
    inside = _is_number(value) and math.isfinite(value)
    inside = inside and (minimum is None or value >= minimum)
    inside = inside and (maximum is None or value < maximum or (include_maximum and value == maximum))
    if not inside:
        if minimum is not None and maximum is not None:
            bound = f"in [{minimum:g}, {maximum:g}{']' if include_maximum else ')'}"
        elif minimum is not None:
            bound = f"of at least {minimum:g}"
        elif maximum is not None:
            bound = f"of at most {maximum:g}"
        else:
            bound = "that is finite"
        raise ValueError(f"--{option} must be a number {bound}, got {value!r}.")
    return float(value)


def check_choice(value: object, option: str, choices: Sequence[str]) -> str:
    """``value`` when it is one of ``choices``, else one sentence listing them."""
    if isinstance(value, str) and value in choices:
        return value
    raise ValueError(f"--{option} must be one of {', '.join(choices)}, got {value!r}.")


def check_window_size(value: object, option: str, dims: Sequence[int] = (2, 3)) -> tuple[int, ...]:
    """A patch or window size: positive integers, as many as one of ``dims`` (e.g. ``[32, 64, 64]``)."""
    counts = " or ".join(map(str, dims))
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"--{option} must be a list of {counts} positive integers, got {value!r}.")
    size = check_patch_size(value, f"--{option}")
    if len(size) not in dims:
        raise ValueError(f"--{option} {list(size)} has {len(size)} values; expected {counts} (one per axis).")
    return size


def available_devices() -> list[str]:
    """The devices this machine can run on, e.g. ``['cpu', 'cuda:0', 'cuda:1']``."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def check_device(value: object, option: str = "device") -> torch.device:
    """The device named by ``value`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``1``, a :class:`torch.device`), or one
    sentence saying it does not exist here and which devices do.

    Example::

        >>> check_device("cpu")
        device(type='cpu')
    """
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"--{option} {value!r} is not a device name; expected one of {', '.join(available_devices())}."
        ) from None
    if device.type == "cpu":
        return device
    available = available_devices()
    if device.type == "cuda":
        ok = torch.cuda.is_available() and (device.index is None or device.index < torch.cuda.device_count())
    elif device.type == "mps":
        ok = torch.backends.mps.is_available()
    else:
        ok = False
    if not ok:
        why = "" if device.type != "cuda" or torch.backends.cuda.is_built() else " (this PyTorch is built without CUDA)"
        raise ValueError(
            f"--{option} {str(device)!r} is not available on this machine{why}; available: {', '.join(available)}."
        )
    return device


def _check_flags(**flags: object) -> None:
    for name, value in flags.items():
        as_bool(value, name)


def _check_existing_file(value: object, option: str) -> None:
    if value is None or value == "":
        return
    path = Path(str(value)).expanduser()
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"--{option} '{path}' {what}.")


def _planned(value: object) -> bool:
    """Whether an option is left to the training plan (``"auto"``)."""
    return isinstance(value, str) and value.strip().lower() == "auto"


def check_training_options(
    *,
    epochs: object,
    epoch_length: object,
    val_interval: object,
    patch_size: object,
    batch_size: object,
    num_workers: object,
    learning_rate: object,
    device: object,
    val_roi_size: object = None,
    weight_decay: object = 0.0,
    val_at_start: object = False,
    cpu_bf16: object = False,
    in_channels: object = 1,
    out_channels: object = 1,
    seed: object = 0,
    pretrained_ckpt: object = None,
    normalization: object = "auto",
    voxel_size: object = "auto",
    pool_kernel_size: object = "auto",
    memory_budget: object = None,
    step_seconds: object = "auto",
) -> None:
    """Check the options of a training bundle; the first bad one raises its one-sentence explanation.

    ``patch_size``, ``batch_size``, ``normalization``, ``voxel_size`` and ``pool_kernel_size`` may be ``"auto"``:
    the training plan chooses them (:func:`unet3d_monai.planning.plan_training`). Every check here reads the options
    alone, never the dataset, so that a bad value stops the run before the sample dataset is generated or the
    training volumes are read; :func:`check_pool_kernel_size` with the bundle's network checks the pooling levels.

    Raises:
        ValueError: a value is out of range or of the wrong kind, or the device is not available.
        FileNotFoundError: ``pretrained_ckpt`` names no file.
    """
    for name, value in (("epochs", epochs), ("epoch_length", epoch_length), ("val_interval", val_interval)):
        check_integer(value, name, 1)
    patch = None if _planned(patch_size) else check_window_size(patch_size, "patch_size")
    roi = None if val_roi_size is None else check_window_size(val_roi_size, "val_roi_size")
    if roi is not None and patch is not None and len(roi) != len(patch):
        raise ValueError(
            f"--val_roi_size {list(val_roi_size)} has {len(val_roi_size)} values but --patch_size {list(patch)} has "
            f"{len(patch)}; give the validation window one size per axis of the patches."
        )
    if not _planned(batch_size):
        check_integer(batch_size, "batch_size", 1)
    check_integer(num_workers, "num_workers", 0)
    check_number(learning_rate, "learning_rate", 0.0)
    check_number(weight_decay, "weight_decay", 0.0)
    check_integer(in_channels, "in_channels", 1)
    check_integer(out_channels, "out_channels", 1)
    check_integer(seed, "seed", 0)
    _check_flags(val_at_start=val_at_start)
    if not (isinstance(cpu_bf16, str) and cpu_bf16.strip().lower() == "auto"):
        as_bool(cpu_bf16, "cpu_bf16")
    check_device(device)
    _check_existing_file(pretrained_ckpt, "pretrained_ckpt")
    if not _planned(normalization):
        check_choice(normalization, "normalization", ["auto", *(mode.value for mode in NormalizeMode)])
    if not _planned(voxel_size):
        given = list(voxel_size) if isinstance(voxel_size, Sequence) and not isinstance(voxel_size, str) else []
        check_voxel_size(voxel_size, len(given) if len(given) in (2, 3) else 3)
    check_pool_kernel_size(pool_kernel_size)
    if memory_budget is not None:
        parse_memory(memory_budget)
    parse_step_seconds(step_seconds)


def check_pool_kernel_size(value: object, network: torch.nn.Module | None = None) -> None:
    """``--pool_kernel_size``: ``"auto"``, one size for every level and axis, one per axis, or one such entry per
    pooling level of ``network`` (the bundle's ``network_def``; without it, only the form is checked).

    The bundles call it in ``initialize`` after :func:`check_training_options`, whose checks of the network's own
    arguments (``--in_channels``, ...) come first, after ``set_determinism`` (building ``network_def`` draws its
    initial weights, which the seed decides), and before the dataset is prepared.

    Raises:
        ValueError: one sentence naming ``--pool_kernel_size``.
    """
    if _planned(value):
        return
    spatial_dims = int(getattr(network, "spatial_dims", 0))
    levels = len(getattr(network, "f_maps", [])) - 1
    if spatial_dims and levels >= 1:
        pool_kernels_per_level(value, spatial_dims, levels)
        return
    per_level = isinstance(value, Sequence) and not isinstance(value, str)
    per_level = per_level and any(isinstance(entry, Sequence) and not isinstance(entry, str) for entry in value)
    entries = value if per_level else [value]
    for entry in entries:
        sizes = list(entry) if isinstance(entry, Sequence) and not isinstance(entry, str) else [entry]
        if not sizes or not all(_is_number(v) and v == int(v) and v >= 1 for v in sizes):
            raise ValueError(
                f"--pool_kernel_size must be 'auto', a positive whole number, one per spatial axis, or one such entry "
                f"per pooling level, got {value!r}."
            )


def check_training_outputs(
    ckpt_dir: str | os.PathLike, output_dir: str | os.PathLike, resume: object, overwrite: object
) -> None:
    """Refuse to start a training run that would replace an earlier run's weights, or write where it cannot.

    A ``ckpt_dir`` that already holds ``model.pt`` or ``last.pt`` is only used with ``resume`` (continue that run)
    or ``overwrite`` (replace it; the earlier files stay until the new run writes its first checkpoint). Both
    folders must be writable (or creatable); neither is created here.

    Raises:
        FileExistsError: earlier weights are present and neither ``resume`` nor ``overwrite`` is set.
        ValueError: both ``resume`` and ``overwrite`` are set.
        NotADirectoryError, PermissionError: a folder cannot be written.
    """
    resume, overwrite = as_bool(resume, "resume"), as_bool(overwrite, "overwrite")
    if resume and overwrite:
        raise ValueError(
            "--resume true continues the run in --ckpt_dir and --overwrite true replaces it; pass only one of them."
        )
    check_writable_folder(ckpt_dir, "--ckpt_dir")
    check_writable_folder(output_dir, "--output_dir")
    present = [name for name in TRAINED_WEIGHTS if (Path(ckpt_dir) / name).is_file()]
    if present and not resume and not overwrite:
        raise FileExistsError(
            f"--ckpt_dir '{ckpt_dir}' already holds {' and '.join(present)} from an earlier run; pass --resume true "
            "to continue that run, --overwrite true to replace its weights, or choose another --ckpt_dir."
        )


def check_inference_options(
    *,
    input: object,
    ckpt_path: object,
    output_dir: str | os.PathLike,
    device: object,
    roi_size: object,
    overlap: object,
    sw_batch_size: object,
    in_channels: object = 1,
    out_channels: object = 1,
    normalization: object = "standardize",
    output_dtype: object = "float32",
    segmentation_mode: object = "threshold",
    threshold: object = 0.5,
    min_size: object = 0,
    block_shape: object = None,
    object_size: object = 32,
    tta: object = False,
    amp: object = None,
    save_segmentation: object = False,
    blockwise: object = False,
    resume: object = False,
    overwrite: object = False,
    progress: object = True,
) -> None:
    """Check the options of an inference bundle; the first bad one raises its one-sentence explanation.

    Raises:
        ValueError: a value is out of range or of the wrong kind, or the device is not available.
        FileNotFoundError: the checkpoint or the input does not exist.
        NotADirectoryError, PermissionError: the output folder cannot be written.
    """
    check_device(device)
    check_window_options(roi_size, overlap, sw_batch_size, block_shape)
    check_integer(in_channels, "in_channels", 1)
    check_integer(out_channels, "out_channels", 1)
    check_choice(normalization, "normalization", [m.value for m in NormalizeMode])
    check_choice(output_dtype, "output_dtype", [d.value for d in OutputDtype])
    check_choice(segmentation_mode, "segmentation_mode", [m.value for m in SegmentationMode])
    check_number(threshold, "threshold")
    check_integer(min_size, "min_size", 0)
    sizes = object_size if isinstance(object_size, Sequence) and not isinstance(object_size, str) else [object_size]
    if len(sizes) not in (1, 3):
        raise ValueError(f"--object_size must be one size or three (Z, Y, X) in voxels, got {object_size!r}.")
    for size in sizes:
        check_integer(size, "object_size", 1)
    _check_flags(
        tta=tta,
        save_segmentation=save_segmentation,
        blockwise=blockwise,
        resume=resume,
        overwrite=overwrite,
        progress=progress,
    )
    if amp is not None:
        as_bool(amp, "amp")
    if ckpt_path is not None and not Path(str(ckpt_path)).expanduser().is_dir():  # a folder is a bioimage.io package
        _check_existing_file(ckpt_path, "ckpt_path")
    find_volume_files(input)
    check_writable_folder(output_dir, "--output_dir")
