"""Block-wise prediction of one file (HDF5 or zarr in, HDF5 or zarr out), in this process or on a Dask cluster."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import h5py
import numpy as np

from unet3d_monai.inference.block_prediction import BlockwisePrediction, TaskRunner, VolumeFile, default_block_shape
from unet3d_monai.inference.input_sampling import input_sampling, model_length_unit
from unet3d_monai.inference.resampled_volume import ResampledFile, ResampledVolume
from unet3d_monai.inference.rescale import model_grid_shape
from unet3d_monai.inference.splitter import FittedWindowSplitter
from unet3d_monai.inference.volumes import ArrayVolume
from unet3d_monai.inference.window_predictor import network_digest
from unet3d_monai.inference.zarr_store import ZarrPredictionWriter, is_zarr
from unet3d_monai.io.writers import HDF5PredictionWriter, OutputDtype
from unet3d_monai.segmentation.segmenter import Segmenter

__all__ = [
    "BlockwiseSettings",
    "ZarrBlockWriter",
    "input_grid_block_shape",
    "predict_file_blockwise",
    "work_dir_of",
]

logger = logging.getLogger(__name__)


class BlockwiseSettings(Protocol):
    """What block-wise prediction reads of the predictor that runs it
    (:class:`~unet3d_monai.inference.VolumePredictor`), so that this module need not import the predictor."""

    window_predictor: Any
    network: Any
    inferer: Any
    device: Any
    roi_size: Sequence[int]
    overlap: Sequence[float]
    min_window: Sequence[int]
    raw_key: str
    normalization: Any
    replace_nonfinite: float | None
    channels_first_3d: bool
    tta: bool
    out_channels: int
    block_shape: Sequence[int] | None
    block_memory_bytes: int
    overwrite: bool
    output_dtype: OutputDtype
    resume: bool
    progress: bool
    save_segmentation: bool
    segmenter: Segmenter
    rescale: bool
    voxel_size: Sequence[float] | None
    preview: bool

    def _write_preview(self, path: Path, volume: Any, predictions: ArrayVolume) -> None: ...


class ZarrBlockWriter:
    """Writes one assembled block (predictions, and labels when ``segmenter`` is given) to a zarr output; sent to
    the tasks, which write their own chunks."""

    def __init__(self, writer: ZarrPredictionWriter, segmenter: Segmenter | None = None) -> None:
        self.writer, self.segmenter = writer, segmenter

    def __call__(self, region: tuple[slice, ...], predictions: np.ndarray) -> None:
        self.writer.write_predictions(region, predictions)
        if self.segmenter is not None:
            self.writer.write_segmentation(region, self.segmenter(predictions))


def work_dir_of(output: Path) -> Path:
    """The folder of partials and progress of a block-wise prediction writing ``output``."""
    name = output.name[: -len(".zarr")] if is_zarr(output) else output.stem
    return output.with_name(name + ".blocks")


def _spatial_chunks(volume: Any) -> tuple[int, ...] | None:
    """The input's chunk shape along ``(Z, Y, X)`` when it is stored chunked as ``(Z, Y, X)`` or ``(C, Z, Y, X)``."""
    chunks = getattr(volume, "chunks", None)
    stored = getattr(volume, "stored_shape", ())
    if chunks is None or len(stored) < 3 or getattr(volume, "channels_first_3d", False):
        return None
    return tuple(int(c) for c in chunks[-3:])


class _ModelGridStore:
    """Takes the assembled blocks of a prediction on the model's grid into an HDF5 file (created at the first block,
    anew each run), from which they are resampled onto the input's grid."""

    def __init__(self, path: Path, spatial_shape: Sequence[int]) -> None:
        self.path, self.spatial_shape = path, tuple(spatial_shape)
        self._file: h5py.File | None = None

    def __call__(self, region: tuple[slice, ...], predictions: np.ndarray) -> None:
        if self._file is None:
            self._file = h5py.File(self.path, "w")
            shape = (predictions.shape[0], *self.spatial_shape)
            self._file.create_dataset("predictions", shape=shape, dtype=np.float32, chunks=True)
        self._file["predictions"][(slice(None), *region)] = predictions

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def input_grid_block_shape(
    model_block_shape: Sequence[int], factors: Sequence[float], spatial_shape: Sequence[int]
) -> tuple[int, ...]:
    """The input-grid block covering about what a block of ``model_block_shape`` covers on the model's grid (the input
    grid grown by ``factors`` per axis), within the input's ``spatial_shape``.

    Example:
        >>> input_grid_block_shape((32, 64, 64), (2.0, 0.5, 1.0), (100, 100, 100))
        (16, 100, 64)
    """
    return tuple(
        min(int(s), max(1, math.ceil(int(b) / float(f)))) for b, f, s in zip(model_block_shape, factors, spatial_shape)
    )


def _regions(spatial_shape: Sequence[int], block_shape: Sequence[int]) -> list[tuple[slice, ...]]:
    ranges = [range(0, int(s), int(b)) for s, b in zip(spatial_shape, block_shape)]
    return [
        tuple(slice(p, min(p + int(b), int(s))) for p, b, s in zip(start, block_shape, spatial_shape))
        for start in itertools.product(*ranges)
    ]


def _predict_on_model_grid(
    engine: BlockwisePrediction,
    source: Any,
    out_channels: int,
    model_shape: Sequence[int],
    spatial_shape: Sequence[int],
    block_shape: Sequence[int],
    write_block: Callable[[tuple[slice, ...], np.ndarray], None],
) -> None:
    """Run ``engine`` on ``source`` (the input read on the model's grid ``model_shape``) into a model-grid HDF5 file in
    its work folder, then hand the predictions resampled onto the input's grid ``spatial_shape`` to
    ``write_block(region, predictions)`` in blocks of ``block_shape``."""
    store = _ModelGridStore(engine.work_dir / "model_grid.h5", model_shape)
    try:
        engine.run(source, store, out_channels)
    finally:
        store.close()
    with h5py.File(store.path, "r") as f:
        on_input_grid = ResampledVolume(ArrayVolume(f["predictions"]), spatial_shape)
        for region in _regions(spatial_shape, block_shape):
            write_block(region, on_input_grid.read(region))


def predict_file_blockwise(
    owner: BlockwiseSettings,
    path: Path,
    volume: Any,
    output: Path,
    runner: TaskRunner | None,
    factors: Sequence[float] | None = None,
) -> Path:
    """Predict the open input ``volume`` of file ``path`` block by block into ``output`` (``.h5`` or ``.zarr``),
    with the settings of ``owner``; the tasks run on ``runner`` (None: in this process).

    HDF5 outputs are written by this process as blocks are assembled; zarr outputs, chunked by blocks, are
    written by the tasks. Either is written under a temporary name and renamed when complete.

    With ``factors`` (see :func:`~unet3d_monai.inference.rescale.rescale_factors`) the input is predicted at the
    model's voxel size: the blocks and their windows lie on the model's grid (the input grown by ``factors``, as
    in-memory prediction resamples it), each task reads its block's region of the input resampled onto that grid
    (:class:`~unet3d_monai.inference.resampled_volume.ResampledVolume`), the assembled predictions go to a model-grid
    file in the work folder, and this process writes them resampled back onto the input's grid, block by block. The
    result equals the in-memory prediction with resampling (to float rounding); partials are kept for ``resume``.
    """
    spatial = tuple(volume.shape[1:])
    model_shape = spatial if factors is None else model_grid_shape(spatial, factors)
    inferer = owner.inferer
    splitter = FittedWindowSplitter(owner.roi_size, owner.overlap, owner.min_window)
    window = splitter.window_for(model_shape)
    stat = path.stat()
    fingerprint = {
        "input": str(path.resolve()),
        "input_mtime_ns": stat.st_mtime_ns,
        "raw_key": owner.raw_key,
        "normalization": owner.normalization,
        "replace_nonfinite": owner.replace_nonfinite,
        "window": list(window),
        "overlap": list(splitter.overlap),
        "sigma_scale": str(inferer.sigma_scale),
        "tta": owner.tta,
        "network": network_digest(owner.network),
    }
    block_shape = owner.block_shape
    if factors is not None:
        fingerprint["model_grid"] = list(model_shape)
        if block_shape is None:
            # a task reads its block's region of the input: more voxels than the block where the input is finer
            reads = math.prod(max(1.0, 1.0 / float(f)) for f in factors)
            channels = math.ceil(int(volume.shape[0]) * reads) + owner.out_channels + 1
            block_shape = default_block_shape(model_shape, window, channels, owner.block_memory_bytes)
    engine = BlockwisePrediction(
        owner.window_predictor,
        splitter,
        work_dir_of(output),
        mode=str(inferer.mode),
        sigma_scale=inferer.sigma_scale,
        sw_batch_size=int(inferer.sw_batch_size),
        device=owner.device,
        block_shape=block_shape,
        block_memory_bytes=owner.block_memory_bytes,
        fingerprint=fingerprint,
        resume=owner.resume,
        progress=owner.progress,
        runner=runner,
    )
    source: Any = VolumeFile(
        str(path),
        owner.raw_key,
        owner.normalization,
        None if volume.stats is None else volume.stats.to_dict(),
        owner.channels_first_3d,
        owner.replace_nonfinite,
    )
    opened: Any = volume
    chunks = _spatial_chunks(volume)
    if factors is not None:
        source, opened, chunks = ResampledFile(source, model_shape), ResampledVolume(volume, model_shape), None
    if runner is None:
        source = opened
    out_channels = owner.out_channels
    instance = owner.save_segmentation and owner.segmenter.is_instance
    if is_zarr(output):
        if instance:
            raise ValueError(
                f"Instance segmentation ('{owner.segmenter.mode.value}') needs the whole volume; a zarr output "
                f"'{output}' is written block by block: segment it afterwards, or use segmentation_mode 'threshold'."
            )
        writer = ZarrPredictionWriter(output, path, owner.overwrite, owner.output_dtype, owner.resume)
        plan = engine.plan((volume.shape[0], *model_shape), out_channels, chunks)
        output_blocks = plan.block_shape
        if factors is not None:
            output_blocks = input_grid_block_shape(plan.block_shape, factors, spatial)
        labels_channels = None
        if owner.save_segmentation:
            labels_channels = 0 if owner.segmenter.mode.value == "argmax" or out_channels == 1 else out_channels
        writer.create((out_channels, *spatial), output_blocks, labels_channels)
        block_writer = ZarrBlockWriter(writer, owner.segmenter if owner.save_segmentation else None)
        if factors is None:
            engine.run(source, block_writer, out_channels, chunks, write_on_workers=True, output_fresh=writer.fresh)
        else:
            _predict_on_model_grid(engine, source, out_channels, model_shape, spatial, output_blocks, block_writer)
        result = writer.commit()
        engine.cleanup()
        if owner.preview:
            import zarr

            stored = zarr.open_array(str(result), path="predictions", mode="r")
            owner._write_preview(path, volume, ArrayVolume(stored, scale=float(stored.attrs.get("scale", 1.0))))
        return result

    with HDF5PredictionWriter(output, path, owner.overwrite, owner.output_dtype) as writer:

        def write_block(region: tuple[slice, ...], block: np.ndarray) -> None:
            if not writer.has_predictions:
                writer.create_predictions((block.shape[0], *spatial))
            writer.write_predictions(region, block)
            if owner.save_segmentation and not instance:
                labels = owner.segmenter(block)
                if not writer.has_segmentation:
                    writer.create_segmentation((*labels.shape[:-3], *spatial))
                writer.write_segmentation(labels, region)

        if factors is None:
            engine.run(source, write_block, out_channels, chunks)
        else:
            plan = engine.plan((volume.shape[0], *model_shape), out_channels, chunks)
            output_blocks = input_grid_block_shape(plan.block_shape, factors, spatial)
            _predict_on_model_grid(engine, source, out_channels, model_shape, spatial, output_blocks, write_block)
        if instance:
            # on the input's grid: the segmentation measures distances in the input's voxel size
            sampling = unit = None
            if owner.segmenter.uses_sampling:
                sampling = input_sampling(path, owner.raw_key, len(spatial))
                if sampling is not None and owner.rescale:
                    unit = model_length_unit(owner.voxel_size, len(spatial))
            writer.write_segmentation(owner.segmenter(writer.read_predictions(), sampling, unit))
        result = writer.commit()
    engine.cleanup()
    if owner.preview:
        with h5py.File(result, "r") as f:
            stored = f["predictions"]
            owner._write_preview(path, volume, ArrayVolume(stored, scale=float(stored.attrs.get("scale", 1.0))))
    return result


def select_part(files: Sequence[Path], part: str | None) -> list[Path]:
    """The files of part ``K/N`` of a sorted list (every N-th file from the K-th, 1-based), or all of them.

    Example:
        >>> [p.name for p in select_part([Path(f"{i}.h5") for i in range(5)], "2/2")]
        ['1.h5', '3.h5']
    """
    if part is None:
        return list(files)
    k, n = parse_part(part)
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
