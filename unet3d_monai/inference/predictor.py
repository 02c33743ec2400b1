"""Prediction of files: HDF5 or NIfTI in, ``<stem>_predictions.h5`` / ``.nii.gz`` out, in memory or block-wise."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import psutil
import torch
from monai.inferers import SlidingWindowInferer
from monai.utils import ensure_tuple_rep, look_up_option, optional_import
from torch import nn

from unet3d_monai.bundle.options import as_bool
from unet3d_monai.data.files import get_h5_dataset, open_h5
from unet3d_monai.data.voxel_size import read_voxel_size
from unet3d_monai.inference.block_files import parse_part, predict_file_blockwise, select_part
from unet3d_monai.inference.distributed import connect, parse_scheduler
from unet3d_monai.inference.input_checks import check_dimensions, check_finite
from unet3d_monai.inference.memory_fallback import OutOfMemoryFallback
from unet3d_monai.inference.output_space import check_prediction_space
from unet3d_monai.inference.preview import preview_image, write_preview
from unet3d_monai.inference.rescale import rescale_factors, to_input_grid, to_model_grid
from unet3d_monai.inference.segmentation import SegmentationMode, Segmenter
from unet3d_monai.inference.sliding_window import infer_volume, prepare_window_predictor, window_roi_size
from unet3d_monai.inference.volumes import (
    ArrayVolume,
    HDF5Volume,
    find_volume_files,
    is_nifti,
    load_nifti,
    nifti_shape,
    volume_stem,
)
from unet3d_monai.inference.window_fit import FittedSlidingWindowInferer, network_min_window
from unet3d_monai.inference.window_options import check_window_options
from unet3d_monai.inference.window_predictor import (
    network_in_channels,
    network_out_channels,
    network_spatial_dims,
)
from unet3d_monai.inference.writers import (
    HDF5PredictionWriter,
    OutputDtype,
    check_output_path,
    convert_predictions,
    write_nifti,
)
from unet3d_monai.inference.zarr_store import ZarrVolume, is_zarr

tqdm, _ = optional_import("tqdm", name="tqdm")

__all__ = ["VolumePredictor", "predict_file"]

logger = logging.getLogger(__name__)


class VolumePredictor:
    """Predicts HDF5 and NIfTI volumes with a network and a Gaussian ``SlidingWindowInferer``, writing files.

    For each input ``<stem>.h5`` (dataset ``raw_key``: ``(Z, Y, X)``, ``(C, Z, Y, X)``, or 2D) it writes
    ``<output_dir>/<stem>_predictions.h5`` with dataset ``predictions`` ``(C_out, Z, Y, X)`` (probabilities
    after the network's ``final_activation``, in ``output_dtype``) and, with ``save_segmentation``, dataset
    ``segmentation`` (``uint32``, see :class:`~unet3d_monai.inference.segmentation.SegmentationMode`).
    A NIfTI input ``<stem>.nii.gz`` gives ``<stem>_predictions.nii.gz`` (and ``<stem>_segmentation.nii.gz``)
    with the input's affine.

    Before anything is written, every input is checked (:meth:`check_input`): a volume whose dimensionality or
    channel count does not suit the network, or that holds NaN/Inf voxels (unless ``replace_nonfinite`` says
    what to put in their place), stops the run with one sentence naming the file and what was expected.

    Each volume is normalised with its own statistics (``normalization``, as in training). It is predicted in
    memory when input, output and weights fit ``memory_fraction`` of the available RAM, block-wise from
    disk otherwise or when ``blockwise`` is set (HDF5 and zarr only); both give the same result (to float rounding).
    zarr inputs (``<stem>.zarr``) are always predicted block-wise, into ``<stem>_predictions.zarr`` (chunked by
    blocks). With ``scheduler`` the blocks are predicted on a Dask cluster (an address, or ``local:N`` worker
    processes). With ``resume``, an interrupted block-wise prediction continues from its finished blocks, and inputs
    whose outputs are complete are skipped; ``part`` ``"K/N"`` predicts every N-th input from the K-th, so that N
    machines sharing the file system split a folder between them.

    On a CUDA out-of-memory error the window batch is halved, then the window
    (:class:`~unet3d_monai.inference.memory_fallback.OutOfMemoryFallback`); finished windows are kept.

    Safety: inputs are opened read-only; outputs are written to ``<name>.part`` and renamed when complete;
    an existing output is refused unless ``overwrite``; an output equal to the input is refused; an output folder
    that cannot be written or lacks the room for the outputs is refused before any prediction.

    With ``preview``, ``<output_dir>/<stem>_preview.png`` shows the central orthogonal slices of the input next
    to those of each prediction channel (see :func:`~unet3d_monai.inference.preview.preview_image`).

    Args:
        network: the network with its weights loaded; 3D, or 2D (predicting slice by slice).
        inferer: the sliding-window settings (``roi_size``, ``overlap``, ``sw_batch_size``, ``mode``,
            ``sigma_scale``, ``padding_mode``, ``cval``); for a 2D network ``roi_size`` is ``(Y, X)`` or
            ``(1, Y, X)``. Its devices are replaced by ``device`` (windows) and the CPU (stitching).
        output_dir: folder for the outputs (created if needed).
        raw_key: HDF5 dataset holding the input.
        normalization: ``"standardize"``, ``"percentile"``, ``"minmax"`` or ``"none"``.
        device: where the network runs; None picks CUDA when available.
        tta: average over the axis flips.
        amp: autocast; None switches it on for CUDA, and on the CPU as ``cpu_bf16`` says.
        cpu_bf16: bfloat16 autocast on the CPU when ``amp`` is None: ``"auto"`` where the CPU computes bfloat16
            natively (AVX512-BF16 or AMX), true or false.
        blockwise: always predict block-wise (HDF5 inputs; zarr inputs always are).
        resume: continue an interrupted block-wise prediction; skip inputs whose outputs are complete.
        overwrite: replace existing outputs.
        output_dtype: ``"float32"``, ``"float16"`` or ``"uint8"`` (probabilities scaled to 0..255).
        save_segmentation: also write a ``segmentation`` label volume.
        segmentation_mode: how to segment (threshold, argmax, boundary/foreground components or watershed).
        threshold: probability threshold of the segmentation.
        min_size: smallest instance kept, in voxels.
        min_distance: smallest distance between two seeds of ``foreground_watershed``, in voxels (about the
            radius of the smallest object).
        block_shape: spatial block size of block-wise prediction (None: fits ``block_memory_mb``).
        block_memory_mb: memory budget of one block with its halo.
        memory_fraction: fraction of the available RAM an in-memory prediction may use.
        progress: progress bars per volume and per window batch.
        replace_nonfinite: None refuses inputs with NaN/Inf voxels; a number replaces them with it (in the
            input's units, before normalisation; they are left out of the normalisation statistics either way).
        preview: also write ``<stem>_preview.png``.
        scheduler: None predicts in this process; ``"local:N"`` starts a Dask ``LocalCluster`` of N worker
            processes; another text is the address of a running Dask scheduler (e.g. ``tcp://host:8786``); a
            connected ``distributed.Client`` is used as it is (and left open).
            Block-wise prediction follows (every HDF5 and zarr input).
        part: ``"K/N"``: predict only the K-th of N shares of the inputs (sorted, every N-th from the K-th).
        output_format: ``"auto"`` (zarr for zarr inputs, HDF5 otherwise), ``"h5"`` or ``"zarr"``.
        voxel_size: the voxel size the model was trained at (its record's ``voxel_size``); None: unknown.
        rescale: predict an input whose voxel size (HDF5 ``element_size_um``/``resolution``, NIfTI affine) differs
            from ``voxel_size`` by more than 5% at the model's voxel size, resampled with MONAI's ``Resize``, and
            write the predictions on the input's grid (in memory; block-wise prediction refuses such an input).

    Example (in a bundle, ``"run": ["$@predictor.run(@input)"]``)::

        predictor = VolumePredictor(network, SlidingWindowInferer((80, 170, 170), overlap=0.25, mode="gaussian"),
                                    output_dir="out")
        predictor.run("data/test")          # a file, a folder or a glob
    """

    def __init__(
        self,
        network: nn.Module,
        inferer: SlidingWindowInferer,
        output_dir: str | PathLike,
        raw_key: str = "raw",
        normalization: str = "standardize",
        device: torch.device | str | None = None,
        tta: bool | str = False,
        amp: bool | str | None = None,
        cpu_bf16: bool | str = False,
        blockwise: bool | str = False,
        resume: bool | str = False,
        overwrite: bool | str = False,
        output_dtype: OutputDtype | str = OutputDtype.FLOAT32,
        save_segmentation: bool | str = False,
        segmentation_mode: SegmentationMode | str = SegmentationMode.THRESHOLD,
        threshold: float = 0.5,
        min_size: int = 0,
        min_distance: int = 2,
        block_shape: Sequence[int] | None = None,
        block_memory_mb: float = 256.0,
        memory_fraction: float = 0.5,
        progress: bool | str = True,
        replace_nonfinite: float | None = None,
        preview: bool | str = False,
        scheduler: Any = None,
        part: str | None = None,
        output_format: str = "auto",
        voxel_size: Sequence[float] | None = None,
        rescale: bool | str = True,
    ) -> None:
        if not isinstance(inferer, SlidingWindowInferer):
            raise TypeError(f"inferer must be a monai.inferers.SlidingWindowInferer, got {type(inferer).__name__}.")
        check_window_options(inferer.roi_size, inferer.overlap, inferer.sw_batch_size, block_shape)
        if replace_nonfinite is not None and (
            isinstance(replace_nonfinite, bool)
            or not isinstance(replace_nonfinite, int | float)
            or not math.isfinite(replace_nonfinite)
        ):
            raise ValueError(
                f"--replace_nonfinite {replace_nonfinite!r} must be a finite number (e.g. 0), or null to refuse "
                "inputs with NaN or infinite voxels."
            )
        self.replace_nonfinite = None if replace_nonfinite is None else float(replace_nonfinite)
        self.preview = as_bool(preview, "preview")
        self.voxel_size = None if voxel_size is None else [float(v) for v in voxel_size]
        self.rescale = as_bool(rescale, "rescale")
        self.spatial_dims = network_spatial_dims(network)
        self.in_channels = network_in_channels(network)
        self.out_channels = network_out_channels(network)
        self.tta = as_bool(tta, "tta")
        amp = None if amp is None else as_bool(amp, "amp")
        window_predictor, self.device = prepare_window_predictor(network, device, self.tta, amp, cpu_bf16)
        self.window_predictor = OutOfMemoryFallback(window_predictor, network_min_window(network))
        self.network = network
        roi_size = window_roi_size(inferer.roi_size, self.spatial_dims)
        overlap = inferer.overlap
        if self.spatial_dims == 2 and not isinstance(overlap, (int, float)) and len(overlap) == 2:
            overlap = (0.0, *overlap)
        self.overlap = ensure_tuple_rep(overlap, 3)
        self.progress = as_bool(progress, "progress")
        self.inferer = FittedSlidingWindowInferer(
            roi_size=roi_size,
            sw_batch_size=int(inferer.sw_batch_size),
            overlap=self.overlap,
            mode=inferer.mode,
            sigma_scale=inferer.sigma_scale,
            cval=inferer.cval,
            sw_device=self.device,
            device=torch.device("cpu"),
            progress=self.progress,
            min_window=network_min_window(network),
        )
        self.output_dir = Path(output_dir)
        self.raw_key = raw_key
        self.normalization = normalization
        self.blockwise = as_bool(blockwise, "blockwise")
        self.resume = as_bool(resume, "resume")
        self.overwrite = as_bool(overwrite, "overwrite")
        self.output_dtype = OutputDtype(look_up_option(output_dtype, OutputDtype))
        self.save_segmentation = as_bool(save_segmentation, "save_segmentation")
        self.segmenter = Segmenter(segmentation_mode, threshold=threshold, min_size=min_size, min_distance=min_distance)
        self.block_shape = None if block_shape is None else tuple(int(b) for b in block_shape)
        self.block_memory_bytes = int(block_memory_mb * 2**20)
        if not 0 < memory_fraction <= 1:
            raise ValueError(f"memory_fraction must be in (0, 1]; got {memory_fraction}.")
        self.memory_fraction = memory_fraction
        self.scheduler = None if scheduler in (None, "", "none", "null") else scheduler
        if isinstance(self.scheduler, str):
            parse_scheduler(self.scheduler)
        self.part = None if part in (None, "", "none", "null") else str(part)
        if self.part is not None:
            parse_part(self.part)
        if output_format not in ("auto", "h5", "zarr"):
            raise ValueError(f"--output_format {output_format!r} must be 'auto' (as the input), 'h5' or 'zarr'.")
        self.output_format = output_format
        self._runner = None

    def output_path(self, input_path: str | PathLike) -> Path:
        """Where the predictions of ``input_path`` are written."""
        suffix = ".nii.gz" if is_nifti(input_path) else ".h5"
        if not is_nifti(input_path) and (
            self.output_format == "zarr" or (self.output_format == "auto" and is_zarr(input_path))
        ):
            suffix = ".zarr"
        return self.output_dir / f"{volume_stem(input_path)}_predictions{suffix}"

    def preview_path(self, input_path: str | PathLike) -> Path:
        """Where the preview image of ``input_path`` is written (with ``preview``)."""
        return self.output_dir / f"{volume_stem(input_path)}_preview.png"

    @property
    def channels_first_3d(self) -> bool:
        """Whether a 3D HDF5 dataset is read as ``(C, Y, X)`` (a multi-channel 2D network) or ``(Z, Y, X)``."""
        return self.spatial_dims == 2 and self.in_channels > 1

    def check_input(self, path: str | PathLike) -> None:
        """Refuse an input this network cannot score, before anything is written.

        Raises:
            ValueError: a 2D image for a 3D network, a channel count other than the network's, or NaN/Inf voxels
                while ``replace_nonfinite`` is None; the sentence names the file and the dataset.
        """
        path = Path(path)
        if is_nifti(path):
            shape = nifti_shape(path)
            check_dimensions(path, None, shape, self.spatial_dims)
            volume, _ = load_nifti(path, "none", self.replace_nonfinite)
            self._check_channels(path, volume.shape, nifti=True)
            return
        if is_zarr(path):
            with ZarrVolume(path, self.raw_key, "none", self.channels_first_3d, self.replace_nonfinite) as volume:
                check_dimensions(path, self.raw_key, volume.stored_shape, self.spatial_dims)
                self._check_channels(path, volume.shape)
                check_finite(volume.count_nonfinite(), path, self.raw_key, self.replace_nonfinite)
            return
        with open_h5(path) as f:
            stored_shape = get_h5_dataset(f, self.raw_key).shape
        check_dimensions(path, self.raw_key, stored_shape, self.spatial_dims)
        with HDF5Volume(
            path, self.raw_key, self.normalization, self.channels_first_3d, self.replace_nonfinite
        ) as volume:
            self._check_channels(path, volume.shape)
            check_finite(volume.count_nonfinite(), path, self.raw_key, self.replace_nonfinite)

    def run(self, inputs: str | PathLike | Sequence[str | PathLike]) -> list[Path]:
        """Predict every volume named by ``inputs`` (a file, a folder, a glob or a list); returns the outputs.

        Raises:
            FileNotFoundError: ``inputs`` names no HDF5/NIfTI/zarr volume.
        """
        files = select_part(find_volume_files(inputs), self.part)
        complete = [f for f in files if self.resume and not self.overwrite and self.output_path(f).exists()]
        if complete:
            logger.info("Skipping %d inputs whose outputs are complete (resume), e.g. %s.", len(complete), complete[0])
        files = [f for f in files if f not in complete]
        for path in files:
            self.check_outputs(path)
        self.check_output_space(files)
        for path in files:
            self.check_input(path)
        results = [self.output_path(f) for f in complete]
        bar = tqdm(files, desc="volumes", unit="volume") if self.progress and len(files) > 1 else files
        with self._cluster():
            for path in bar:
                logger.info("Predicting %s", path)
                results.append(self._predict_checked(Path(path)))
                logger.info("Wrote %s", results[-1])
        return results

    @contextlib.contextmanager
    def _cluster(self):
        """Connect to the Dask cluster of ``scheduler`` (once per run) while files are predicted."""
        if self.scheduler is None or self._runner is not None:
            yield
            return
        with connect(self.scheduler) as runner:
            self._runner = runner
            try:
                yield
            finally:
                self._runner = None

    def check_output_space(self, files: Sequence[str | PathLike]) -> None:
        """Refuse, in one sentence, an output folder that cannot be written or has no room for the outputs of
        ``files`` (see :func:`~unet3d_monai.inference.output_space.check_prediction_space`)."""
        check_prediction_space(
            self.output_dir,
            files,
            self.raw_key,
            self.out_channels,
            self.output_dtype,
            channels_first_3d=self.spatial_dims == 2 and self.in_channels > 1,
            blockwise=lambda spatial: self.blockwise or not self._fits_in_memory(spatial),
        )

    def check_outputs(self, path: str | PathLike) -> None:
        """Refuse, before anything is written, outputs of ``path`` that exist (unless ``overwrite``) or that are
        the input."""
        check_output_path(self.output_path(path), path, self.overwrite)
        if self.preview:
            check_output_path(self.preview_path(path), path, self.overwrite)

    def predict_path(self, path: str | PathLike) -> Path:
        """Predict one HDF5 or NIfTI file (after :meth:`check_input`); returns the output file."""
        path = Path(path)
        self.check_input(path)
        with self._cluster():
            return self._predict_checked(path)

    def _predict_checked(self, path: Path) -> Path:
        if self.save_segmentation and self.segmenter.is_instance and self.out_channels != 1:
            raise ValueError(
                f"segmentation_mode '{self.segmenter.mode.value}' needs a one-channel network output; "
                f"this network has {self.out_channels} output channels."
            )
        if is_nifti(path):
            return self._predict_nifti(path)
        if is_zarr(path):
            with ZarrVolume(
                path, self.raw_key, self.normalization, self.channels_first_3d, self.replace_nonfinite
            ) as volume:
                self._check_channels(path, volume.shape)
                return predict_file_blockwise(self, path, volume, self.output_path(path), self._runner)
        return self._predict_hdf5(path)

    def _check_channels(self, path: Path, shape: Sequence[int], nifti: bool = False) -> None:
        if shape[0] != self.in_channels:
            where = "read as (C, X, Y, Z)" if nifti else f"dataset '{self.raw_key}', read as (C, Z, Y, X)"
            raise ValueError(
                f"Input '{path}' ({where} = {tuple(shape)}) has {shape[0]} channels but the network expects "
                f"{self.in_channels} input channels."
            )

    def _write_preview(self, path: Path, volume: ArrayVolume | HDF5Volume, predictions: ArrayVolume) -> None:
        if self.preview:
            written = write_preview(self.preview_path(path), preview_image(volume, predictions))
            logger.info("Wrote %s", written)

    def _rescale_factors(self, path: Path) -> tuple[float, ...] | None:
        if not self.rescale or self.voxel_size is None:
            return None
        factors = rescale_factors(read_voxel_size(path, self.raw_key)[0], self.voxel_size, self.spatial_dims)
        if factors is not None:
            logger.info(
                "Input %s is resampled by %s to the model's voxel size %s, and its predictions back to its grid.",
                path,
                [round(f, 3) for f in factors],
                self.voxel_size,
            )
        return factors

    def _predict_array(self, volume: np.ndarray, factors: Sequence[float] | None = None) -> np.ndarray:
        if factors is None:
            return infer_volume(self.window_predictor, torch.from_numpy(volume), self.inferer, self.device).numpy()
        resampled = to_model_grid(volume, factors)
        predictions = infer_volume(self.window_predictor, resampled, self.inferer, self.device)
        return to_input_grid(predictions, volume.shape[1:]).numpy()

    def _predict_nifti(self, path: Path) -> Path:
        output = check_output_path(self.output_path(path), path, self.overwrite)
        volume, affine = load_nifti(path, self.normalization, self.replace_nonfinite)
        self._check_channels(path, volume.shape, nifti=True)
        if self.blockwise:
            logger.info("NIfTI input %s is predicted in memory (block-wise prediction reads HDF5).", path)
        probabilities = self._predict_array(volume, self._rescale_factors(path))
        stored = convert_predictions(probabilities, self.output_dtype)
        if self.save_segmentation:
            labels = self.segmenter(probabilities)
            segmentation = output.with_name(f"{volume_stem(path)}_segmentation.nii.gz")
            write_nifti(segmentation, labels if labels.ndim == 4 else labels[None], affine, path, self.overwrite)
        result = write_nifti(output, stored, affine, path, self.overwrite)
        self._write_preview(path, ArrayVolume(volume), ArrayVolume(probabilities))
        return result

    def _fits_in_memory(self, spatial: Sequence[int]) -> bool:
        voxels = math.prod(spatial)
        needed = 4 * voxels * (2 * self.in_channels + 2 * self.out_channels + 1)
        budget = self.memory_fraction * psutil.virtual_memory().available
        return needed <= budget

    def _predict_hdf5(self, path: Path) -> Path:
        output = self.output_path(path)
        with HDF5Volume(
            path, self.raw_key, self.normalization, self.channels_first_3d, self.replace_nonfinite
        ) as volume:
            self._check_channels(path, volume.shape)
            spatial = volume.shape[1:]
            blockwise = (
                self.blockwise or self.scheduler is not None or is_zarr(output) or not self._fits_in_memory(spatial)
            )
            if not self.blockwise and not self._fits_in_memory(spatial):
                logger.info("Volume %s %s does not fit the memory budget: predicting block-wise.", path, spatial)
            factors = self._rescale_factors(path)
            if blockwise and factors is not None:
                raise ValueError(
                    f"'{path}' has another voxel size than the model's {self.voxel_size} and is predicted block-wise, "
                    "which does not resample: resample it to the model's voxel size, or pass --rescale false."
                )
            instance = self.save_segmentation and self.segmenter.is_instance
            if blockwise and instance and not self._fits_in_memory(spatial):
                raise ValueError(
                    f"Instance segmentation ('{self.segmenter.mode.value}') of '{path}' {tuple(spatial)} needs the "
                    "whole volume in memory, which does not fit; predict without --save_segmentation, or use "
                    "segmentation_mode 'threshold'."
                )
            if blockwise:
                return predict_file_blockwise(self, path, volume, output, self._runner)
            with HDF5PredictionWriter(output, path, self.overwrite, self.output_dtype) as writer:
                probabilities = self._predict_array(volume.read_all(), factors)
                writer.create_predictions(probabilities.shape)
                writer.write_predictions(tuple(slice(0, s) for s in spatial), probabilities)
                if self.save_segmentation:
                    writer.write_segmentation(self.segmenter(probabilities))
                result = writer.commit()
            if self.preview:
                with h5py.File(result, "r") as f:
                    stored = f["predictions"]
                    scale = float(stored.attrs.get("scale", 1.0))
                    self._write_preview(path, volume, ArrayVolume(stored, scale=scale))
            return result


def predict_file(
    network: nn.Module,
    input_path: str | PathLike,
    output_dir: str | PathLike,
    raw_key: str = "raw",
    *,
    roi_size: Sequence[int],
    overlap: Sequence[float] | float = 0.25,
    sw_batch_size: int = 1,
    normalization: str = "standardize",
    device: torch.device | str | None = None,
    tta: bool = False,
    amp: bool | None = None,
    blockwise: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    output_dtype: OutputDtype | str = OutputDtype.FLOAT32,
    save_segmentation: bool = False,
    segmentation_mode: SegmentationMode | str = SegmentationMode.THRESHOLD,
    threshold: float = 0.5,
    block_shape: Sequence[int] | None = None,
    progress: bool = False,
    replace_nonfinite: float | None = None,
    preview: bool = False,
    scheduler: Any = None,
    output_format: str = "auto",
) -> Path:
    """Predict one HDF5 or NIfTI file with Gaussian sliding windows and write ``<stem>_predictions.h5``.

    A convenience wrapper of :class:`VolumePredictor` (see it for the arguments and the output layout); with
    ``scheduler`` (``"local:N"``, a scheduler address or a ``distributed.Client``) the blocks run on a Dask cluster.

    Example::

        net = UNet3D(1, 1, f_maps=32, layer_order="gcr", num_groups=8)
        load_network_weights(net, "models/model.pt")
        predict_file(net, "cells.h5", "out", roi_size=(80, 170, 170), overlap=0.25)   # -> out/cells_predictions.h5
    """
    inferer = SlidingWindowInferer(roi_size=roi_size, sw_batch_size=sw_batch_size, overlap=overlap, mode="gaussian")
    predictor = VolumePredictor(
        network,
        inferer,
        output_dir,
        raw_key=raw_key,
        normalization=normalization,
        device=device,
        tta=tta,
        amp=amp,
        blockwise=blockwise,
        resume=resume,
        overwrite=overwrite,
        output_dtype=output_dtype,
        save_segmentation=save_segmentation,
        segmentation_mode=segmentation_mode,
        threshold=threshold,
        block_shape=block_shape,
        progress=progress,
        replace_nonfinite=replace_nonfinite,
        preview=preview,
        scheduler=scheduler,
        output_format=output_format,
    )
    predictor.check_outputs(Path(input_path))
    predictor.check_output_space([input_path])
    return predictor.predict_path(input_path)
