"""What a prediction run checks before its first window, read from the steps of its chain.

The checks follow the chain the run predicts with, so that a changed step (another output folder, dataset, output
format or segmentation) is checked as it will run: :func:`select_inputs` picks the volumes (this machine's share,
less those already written), :func:`check_prediction` refuses, in one sentence naming the file, an input the network
cannot score or an output that cannot be written, before anything is computed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

from monai.transforms import Compose
from torch import nn

from unet3d_monai.inference.input_checks import check_dimensions, check_finite
from unet3d_monai.inference.load_volume import LoadVolumed
from unet3d_monai.inference.model_grid import ToModelGridd, input_rescale_factors
from unet3d_monai.inference.on_disk import VolumeOnDisk
from unet3d_monai.inference.output_space import check_prediction_space
from unet3d_monai.inference.rescale import model_grid_shape
from unet3d_monai.inference.segmentd import Segmentd
from unet3d_monai.inference.volumes import find_volume_files, is_nifti, load_nifti, nifti_shape
from unet3d_monai.inference.window_fit import find_network
from unet3d_monai.inference.write_predictions import WritePredictionsd, WritePreviewd, preview_path
from unet3d_monai.inference.zarr_store import ZarrVolume, is_zarr
from unet3d_monai.io.files import get_h5_dataset, open_h5
from unet3d_monai.io.writers import check_output_path
from unet3d_monai.networks.inspection import network_in_channels, network_out_channels, network_spatial_dims
from unet3d_monai.options import as_optional

__all__ = [
    "chain_step",
    "check_input",
    "check_prediction",
    "parse_part",
    "prediction_grid",
    "select_inputs",
    "select_part",
]

logger = logging.getLogger(__name__)

Step = TypeVar("Step")


def chain_step(chain: Compose | Sequence[Any] | None, kind: type[Step]) -> Step | None:
    """The first step of ``chain`` (a ``Compose`` or a list of transforms) that is a ``kind``, or None."""
    steps = getattr(chain, "transforms", chain) or ()
    return next((step for step in steps if isinstance(step, kind)), None)


def _required_step(chain: Compose, kind: type[Step], where: str) -> Step:
    step = chain_step(chain, kind)
    if step is None:
        raise ValueError(f"The {where} chain has no {kind.__name__} step; prediction needs one.")
    return step


def select_part(files: Sequence[Path], part: str | None) -> list[Path]:
    """The files of part ``K/N`` of a sorted list (every N-th file from the K-th, 1-based), or all of them.

    Example:
        >>> [p.name for p in select_part([Path(f"{i}.h5") for i in range(5)], "2/2")]
        ['1.h5', '3.h5']
    """
    if as_optional(part) is None:
        return list(files)
    k, n = parse_part(str(part))
    return [f for i, f in enumerate(sorted(files)) if i % n == k - 1]


def parse_part(part: str) -> tuple[int, int]:
    """``(K, N)`` from ``"K/N"`` with ``1 <= K <= N``.

    Raises:
        ValueError: any other text.
    """
    pieces = str(part).split("/")
    if len(pieces) == 2 and all(p.strip().isdigit() for p in pieces):
        k, n = int(pieces[0]), int(pieces[1])
        if 1 <= k <= n:
            return k, n
    raise ValueError(f"--part {part!r} must be K/N with 1 <= K <= N (this machine's share of the inputs), e.g. 1/4.")


def select_inputs(
    inputs: str | PathLike | Sequence[str | PathLike],
    postprocessing: Compose,
    part: str | None = None,
    resume: bool = False,
) -> list[Path]:
    """The volumes of ``inputs`` (a file, a folder, a glob or a list) a run predicts: this machine's share
    (``part`` ``"K/N"``), less, with ``resume``, those whose outputs (as the chain's writer names them) exist.

    Raises:
        FileNotFoundError: ``inputs`` names no HDF5/NIfTI/zarr volume.
        ValueError: a malformed ``part``.
    """
    files = select_part(find_volume_files(inputs), part)
    writer = _required_step(postprocessing, WritePredictionsd, "postprocessing")
    if not resume or writer.overwrite:
        return files
    complete = [f for f in files if writer.output_path(f).exists()]
    if complete:
        logger.info("Skipping %d inputs whose outputs are complete (resume), e.g. %s.", len(complete), complete[0])
    return [f for f in files if f not in complete]


def _check_channels(path: Path, shape: Sequence[int], in_channels: int, raw_key: str, nifti: bool = False) -> None:
    if shape[0] != in_channels:
        where = "read as (C, X, Y, Z)" if nifti else f"dataset '{raw_key}', read as (C, Z, Y, X)"
        raise ValueError(
            f"Input '{path}' ({where} = {tuple(shape)}) has {shape[0]} channels but the network expects "
            f"{in_channels} input channels."
        )


def check_input(path: str | PathLike, network: nn.Module | Any, loader: LoadVolumed) -> None:
    """Refuse an input ``network`` cannot score as ``loader`` reads it, before anything is written.

    Raises:
        ValueError: a 2D image for a 3D network, a channel count other than the network's, or NaN/Inf voxels while
            the loader does not replace them; the sentence names the file and the dataset.
    """
    path = Path(path)
    module = find_network(network)
    spatial_dims, in_channels = network_spatial_dims(module), network_in_channels(module)
    replacement = loader.replace_nonfinite
    if is_nifti(path):
        check_dimensions(path, None, nifti_shape(path), spatial_dims)
        volume, _ = load_nifti(path, "none", replacement)
        _check_channels(path, volume.shape, in_channels, loader.raw_key, nifti=True)
        return
    if is_zarr(path):
        with ZarrVolume(path, loader.raw_key, "none") as stored:
            stored_shape = stored.stored_shape
    else:
        with open_h5(path) as f:
            stored_shape = get_h5_dataset(f, loader.raw_key).shape
    check_dimensions(path, loader.raw_key, stored_shape, spatial_dims)
    description = VolumeOnDisk.of_file(path, loader.raw_key, loader.channels_first_3d, replacement)
    with description.open() as volume:
        _check_channels(path, volume.shape, in_channels, loader.raw_key)
        check_finite(volume.count_nonfinite(), path, loader.raw_key, replacement)


def prediction_grid(
    resample: ToModelGridd | None, raw_key: str = "raw"
) -> Callable[[str | PathLike, Sequence[int]], Sequence[int] | None]:
    """``grid(path, spatial_shape)``: the spatial shape an input of ``spatial_shape`` (dataset ``raw_key``) is
    predicted on after the ``resample`` step (the model's grid of an HDF5/zarr input it resamples), or None (its own
    grid). Only the file's header is read: this runs before any input is loaded."""

    def grid(path: str | PathLike, spatial_shape: Sequence[int]) -> Sequence[int] | None:
        if resample is None or not resample.enabled or is_nifti(path):
            return None
        factors = input_rescale_factors(path, raw_key, resample.voxel_size, resample.spatial_dims)
        return None if factors is None else model_grid_shape(spatial_shape, factors)

    return grid


def check_prediction(
    inputs: Sequence[str | PathLike | dict], network: nn.Module | Any, preprocessing: Compose, postprocessing: Compose
) -> None:
    """Every check made before the first window is computed, from the steps of the chain that will predict:
    the outputs the writer names (existing ones refused unless it overwrites; an output equal to its input always),
    room in the output folder, the segmentation mode against the network's output channels, and each input
    (:func:`check_input`).

    Args:
        inputs: the input paths, or the dataset's items ``{"image": path}``.
        network: the network (or a wrapper of it) that predicts.
        preprocessing: the chain from ``{"image": path}`` to the network's input (its :class:`LoadVolumed` step says
            how inputs are read).
        postprocessing: the chain from the predictions to the files (its :class:`WritePredictionsd`,
            :class:`Segmentd` and :class:`WritePreviewd` steps say what is written).
    """
    files = [Path(item["image"] if isinstance(item, dict) else item) for item in inputs]
    loader = _required_step(preprocessing, LoadVolumed, "preprocessing")
    writer = _required_step(postprocessing, WritePredictionsd, "postprocessing")
    preview = chain_step(postprocessing, WritePreviewd)
    segmentation = chain_step(postprocessing, Segmentd)
    module = find_network(network)
    out_channels = network_out_channels(module)
    for path in files:
        check_output_path(writer.output_path(path), path, writer.overwrite)
        if preview is not None:
            check_output_path(preview_path(preview.output_dir, path), path, preview.overwrite)
    check_prediction_space(
        writer.output_dir,
        files,
        loader.raw_key,
        out_channels,
        writer.output_dtype,
        channels_first_3d=loader.channels_first_3d,
        blockwise=lambda spatial: (
            loader.blockwise or not loader.fits_in_memory((network_in_channels(module), *spatial))
        ),
        block_grid=prediction_grid(chain_step(preprocessing, ToModelGridd), loader.raw_key),
    )
    if segmentation is not None and segmentation.segmenter.is_instance and out_channels != 1:
        raise ValueError(
            f"segmentation_mode '{segmentation.segmenter.mode.value}' needs a one-channel network output; "
            f"this network has {out_channels} output channels."
        )
    for path in files:
        check_input(path, network, loader)
