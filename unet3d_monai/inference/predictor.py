"""Prediction of files: HDF5, NIfTI or zarr in, ``<stem>_predictions.h5`` / ``.nii.gz`` / ``.zarr`` out, in memory or
block-wise."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from monai.inferers import SlidingWindowInferer
from monai.transforms import Compose
from monai.utils import ensure_tuple_rep, look_up_option, optional_import
from torch import nn

from unet3d_monai.data.normalize import Normalized
from unet3d_monai.inference.chain_checks import check_input, check_prediction, parse_part, select_inputs, select_part
from unet3d_monai.inference.distributed import parse_scheduler
from unet3d_monai.inference.inferer import FittedSlidingWindowInferer, cpu_stitched_inferer
from unet3d_monai.inference.load_volume import LoadVolumed
from unet3d_monai.inference.memory_fallback import OutOfMemoryFallback
from unet3d_monai.inference.model_grid import ToInputGridd, ToModelGridd
from unet3d_monai.inference.on_disk import VolumeOnDisk
from unet3d_monai.inference.segmentd import Segmentd
from unet3d_monai.inference.sliding_window import prepare_window_predictor, window_roi_size
from unet3d_monai.inference.volumes import find_volume_files
from unet3d_monai.inference.window_fit import network_min_window
from unet3d_monai.inference.window_options import check_window_options
from unet3d_monai.inference.window_predictor import (
    WindowPredictor,
    network_in_channels,
    network_out_channels,
    network_spatial_dims,
    resolve_device,
)
from unet3d_monai.inference.write_predictions import (
    OUTPUT_FORMATS,
    WritePredictionsd,
    WritePreviewd,
)
from unet3d_monai.io.writers import OutputDtype
from unet3d_monai.options import as_bool, as_optional
from unet3d_monai.segmentation.segmenter import SegmentationMode, Segmenter

tqdm, _ = optional_import("tqdm", name="tqdm")

__all__ = ["VolumePredictor", "predict_file"]

logger = logging.getLogger(__name__)


class VolumePredictor:
    """Predicts HDF5, NIfTI and zarr volumes with a network and a Gaussian sliding-window inferer, writing files.

    The prediction of one volume in memory is a chain of MONAI pieces, the same as the bundles' ``inference.json``
    spells out: ``preprocessing`` (:class:`~unet3d_monai.inference.load_volume.LoadVolumed`,
    :class:`~unet3d_monai.data.normalize.Normalized`, then :class:`~unet3d_monai.inference.model_grid.ToModelGridd`),
    the ``inferer`` (as given, never rebuilt) running
    :class:`~unet3d_monai.inference.window_predictor.WindowPredictor` (activation and flips of each window) inside
    :class:`~unet3d_monai.inference.memory_fallback.OutOfMemoryFallback`, then ``postprocessing``
    (:class:`~unet3d_monai.inference.model_grid.ToInputGridd`, :class:`~unet3d_monai.inference.segmentd.Segmentd`
    with ``save_segmentation``, :class:`~unet3d_monai.inference.write_predictions.WritePredictionsd`,
    :class:`~unet3d_monai.inference.write_predictions.WritePreviewd` with ``preview``). Either chain may be given
    instead of being built from the options. A volume predicted block-wise goes through the same chain, as a
    :class:`~unet3d_monai.inference.on_disk.VolumeOnDisk` read block by block: every step, and every change to a step,
    acts on it as on a volume in memory.

    For each input ``<stem>.h5`` (dataset ``raw_key``: ``(Z, Y, X)``, ``(C, Z, Y, X)``, or 2D) it writes
    ``<output_dir>/<stem>_predictions.h5`` with dataset ``predictions`` ``(C_out, Z, Y, X)`` (probabilities
    after the network's ``final_activation``, in ``output_dtype``) and, with ``save_segmentation``, dataset
    ``segmentation`` (``uint32``, see :class:`~unet3d_monai.segmentation.segmenter.SegmentationMode`).
    A NIfTI input ``<stem>.nii.gz`` gives ``<stem>_predictions.nii.gz`` (and ``<stem>_segmentation.nii.gz``)
    with the input's affine. A zarr input ``<stem>.zarr`` gives ``<stem>_predictions.zarr`` (chunked by blocks).

    Before anything is written, every input is checked (:meth:`check`): a volume whose dimensionality or
    channel count does not suit the network, or that holds NaN/Inf voxels (unless ``replace_nonfinite`` says
    what to put in their place), stops the run with one sentence naming the file and what was expected.

    Each volume is normalised with its own statistics (``normalization``, as in training). It is predicted in
    memory when input, output and weights fit ``memory_fraction`` of the available RAM, block-wise from
    disk otherwise (:meth:`~unet3d_monai.inference.inferer.FittedSlidingWindowInferer.predict_on_disk`: MONAI's
    ``PatchInferer`` over the volume's window grid, partial sums on disk); both give the same result (to float
    rounding). HDF5 inputs are predicted block-wise also with
    ``blockwise``, a ``scheduler`` or a zarr ``output_format``; zarr inputs always are. With ``scheduler`` the blocks
    are predicted on a Dask cluster (an address, or ``local:N`` worker processes). With ``resume``, an interrupted
    block-wise prediction continues from its finished blocks, and inputs whose outputs are complete are skipped;
    ``part`` ``"K/N"`` predicts every N-th input from the K-th, so that N machines sharing the file system split a
    folder between them.

    An input whose voxel size (HDF5 or zarr ``element_size_um``/``resolution``, OME-Zarr ``scale``, NIfTI affine; see
    :func:`~unet3d_monai.io.voxel_size.read_voxel_size`) differs from the model's ``voxel_size`` by more than 5% is
    predicted at the model's voxel size and its predictions written on the input's grid (``rescale``), in memory and
    block-wise alike (block-wise, each block reads its region of the input resampled onto the model's grid, and the
    predictions are resampled back block by block).

    On a CUDA out-of-memory error the window batch is halved, then the window
    (:class:`~unet3d_monai.inference.memory_fallback.OutOfMemoryFallback`); finished windows are kept.

    Safety: inputs are opened read-only; outputs are written to ``<name>.part`` and renamed when complete;
    an existing output is refused unless ``overwrite``; an output equal to the input is refused; an output folder
    that cannot be written or lacks the room for the outputs is refused before any prediction.

    Args:
        network: the network with its weights loaded (3D, or 2D predicting slice by slice), or a
            :class:`WindowPredictor` wrapping it, or an :class:`OutOfMemoryFallback` wrapping that (then ``tta``,
            ``amp`` and ``cpu_bf16`` are the wrapper's).
        inferer: the sliding-window inferer of volumes in memory, used as given (its ``sw_device`` is where windows
            run, its ``device`` where they are stitched); a :class:`FittedSlidingWindowInferer` fits its window to each
            volume. Volumes on disk are predicted by a :class:`FittedSlidingWindowInferer` with its window settings
            and the block options below. For a 2D network ``roi_size`` is ``(Y, X)`` or ``(1, Y, X)``.
        output_dir: folder for the outputs (created if needed).
        raw_key: HDF5 dataset (zarr array) holding the input.
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
        min_distance: smallest distance between two seeds of ``foreground_watershed``, in voxels.
        block_shape: spatial block size of block-wise prediction (None: fits ``block_memory_mb``).
        block_memory_mb: memory budget of one block with its halo.
        memory_fraction: fraction of the available RAM an in-memory prediction may use.
        progress: progress bar over volumes (and over windows of block-wise prediction).
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
        rescale: predict an input of another voxel size at the model's (see above).
        preprocessing: the chain from ``{"image": path}`` to the normalised volume; None builds it from the options.
        postprocessing: the chain from the sample with ``"pred"`` to the written files; None builds it.

    Example::

        inferer = FittedSlidingWindowInferer((80, 170, 170), overlap=0.25, mode="gaussian")
        predictor = VolumePredictor(network, inferer, output_dir="out", device="cpu")
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
        preprocessing: Compose | None = None,
        postprocessing: Compose | None = None,
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
        if not 0 < memory_fraction <= 1:
            raise ValueError(f"memory_fraction must be in (0, 1]; got {memory_fraction}.")
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"--output_format {output_format!r} must be 'auto' (as the input), 'h5' or 'zarr'.")
        if isinstance(network, OutOfMemoryFallback):
            self.window_predictor, self.device = network, resolve_device(device)
        elif isinstance(network, WindowPredictor):
            fallback = OutOfMemoryFallback(network, network_min_window(network.network))
            self.window_predictor, self.device = fallback, resolve_device(device)
        else:
            windows, self.device = prepare_window_predictor(
                network, device, as_bool(tta, "tta"), None if amp is None else as_bool(amp, "amp"), cpu_bf16
            )
            self.window_predictor = OutOfMemoryFallback(windows, network_min_window(network))
        self.network = self.window_predictor.network
        self.spatial_dims = network_spatial_dims(self.network)
        self.in_channels = network_in_channels(self.network)
        self.out_channels = network_out_channels(self.network)
        self.roi_size = window_roi_size(inferer.roi_size, self.spatial_dims)
        overlap = inferer.overlap
        if self.spatial_dims == 2 and not isinstance(overlap, int | float) and len(overlap) == 2:
            overlap = (0.0, *overlap)
        self.overlap = ensure_tuple_rep(overlap, 3)
        fitted = isinstance(inferer, FittedSlidingWindowInferer) and inferer.min_window is not None
        self.min_window = inferer.min_window if fitted else network_min_window(self.network)
        self.inferer = inferer
        self.replace_nonfinite = None if replace_nonfinite is None else float(replace_nonfinite)
        self.raw_key = raw_key
        self.normalization = normalization
        self.resume = as_bool(resume, "resume")
        self.output_dtype = OutputDtype(look_up_option(output_dtype, OutputDtype))
        self.save_segmentation = as_bool(save_segmentation, "save_segmentation")
        self.segmenter = Segmenter(segmentation_mode, threshold=threshold, min_size=min_size, min_distance=min_distance)
        self.memory_fraction = memory_fraction
        self.progress = as_bool(progress, "progress")
        self.preview = as_bool(preview, "preview")
        self.voxel_size = None if voxel_size is None else [float(v) for v in voxel_size]
        self.rescale = as_bool(rescale, "rescale")
        self.scheduler = as_optional(scheduler)
        if isinstance(self.scheduler, str):
            parse_scheduler(self.scheduler)
        self.part = None if as_optional(part) is None else str(part)
        if self.part is not None:
            parse_part(self.part)
        self.output_format = output_format
        self.blockwise = as_bool(blockwise, "blockwise") or self.scheduler is not None or output_format == "zarr"
        self.block_inferer = FittedSlidingWindowInferer(
            roi_size=self.roi_size,
            sw_batch_size=inferer.sw_batch_size,
            overlap=self.overlap,
            mode=inferer.mode,
            sigma_scale=inferer.sigma_scale,
            sw_device=self.device,
            device="cpu",
            progress=self.progress,
            min_window=self.min_window,
            block_shape=block_shape,
            block_memory_mb=block_memory_mb,
            work_dir=output_dir,
            scheduler=self.scheduler,
            resume=self.resume,
        )
        self._overwrite = as_bool(overwrite, "overwrite")
        self.preprocessing = preprocessing if preprocessing is not None else self._preprocessing()
        self.postprocessing = postprocessing if postprocessing is not None else self._postprocessing(output_dir)
        self._output_dir = Path(output_dir)

    def _preprocessing(self) -> Compose:
        return Compose(
            [
                LoadVolumed(
                    "image",
                    self.raw_key,
                    self.channels_first_3d,
                    self.replace_nonfinite,
                    blockwise=self.blockwise,
                    memory_fraction=self.memory_fraction,
                    out_channels=self.out_channels,
                ),
                Normalized("image", mode=self.normalization),
                ToModelGridd("image", self.voxel_size, self.spatial_dims, self.rescale),
            ]
        )

    def _postprocessing(self, output_dir: str | PathLike) -> Compose:
        steps = [ToInputGridd(["pred", "image"])]
        if self.save_segmentation:
            segmenter = self.segmenter
            steps.append(
                Segmentd(
                    "pred",
                    segmenter.mode,
                    segmenter.threshold,
                    segmenter.min_size,
                    segmenter.min_distance,
                    image_key="image",
                    model_voxel_size=self.voxel_size if self.rescale else None,
                )
            )
        steps.append(
            WritePredictionsd("pred", output_dir, self.output_dtype, self.overwrite, output_format=self.output_format)
        )
        if self.preview:
            steps.append(WritePreviewd("pred", output_dir, self.overwrite))
        return Compose(steps)

    @property
    def output_dir(self) -> Path:
        """The output folder (setting it also moves the writers of ``postprocessing`` and the block-wise work)."""
        return self._output_dir

    @output_dir.setter
    def output_dir(self, folder: str | PathLike) -> None:
        self._output_dir = Path(folder)
        self.block_inferer.work_dir = self._output_dir
        self._set_writers("output_dir", self._output_dir)

    @property
    def overwrite(self) -> bool:
        """Whether existing outputs are replaced (setting it also tells the writers of ``postprocessing``)."""
        return self._overwrite

    @overwrite.setter
    def overwrite(self, value: bool | str) -> None:
        self._overwrite = as_bool(value, "overwrite")
        self._set_writers("overwrite", self._overwrite)

    def _set_writers(self, name: str, value: object) -> None:
        for step in self.postprocessing.transforms:
            if isinstance(step, WritePredictionsd | WritePreviewd):
                setattr(step, name, value)

    def _writer(self) -> WritePredictionsd:
        writer = next((s for s in self.postprocessing.transforms if isinstance(s, WritePredictionsd)), None)
        if writer is None:
            raise ValueError("The postprocessing chain has no WritePredictionsd step; prediction needs one.")
        return writer

    def output_path(self, input_path: str | PathLike) -> Path:
        """Where the predictions of ``input_path`` are written (as the chain's writer names them: ``.zarr`` for a zarr
        input with ``output_format`` ``"auto"``, or with ``"zarr"``; ``.nii.gz`` for NIfTI; ``.h5`` otherwise)."""
        return self._writer().output_path(input_path)

    @property
    def channels_first_3d(self) -> bool:
        """Whether a 3D HDF5 dataset is read as ``(C, Y, X)`` (a multi-channel 2D network) or ``(Z, Y, X)``."""
        return self.spatial_dims == 2 and self.in_channels > 1

    def _loader(self) -> LoadVolumed:
        loader = next((s for s in self.preprocessing.transforms if isinstance(s, LoadVolumed)), None)
        if loader is None:
            raise ValueError("The preprocessing chain has no LoadVolumed step; prediction needs one.")
        return loader

    def check_input(self, path: str | PathLike) -> None:
        """Refuse an input this network cannot score, before anything is written (see
        :func:`~unet3d_monai.inference.chain_checks.check_input`).

        Raises:
            ValueError: a 2D image for a 3D network, a channel count other than the network's, or NaN/Inf voxels
                while ``replace_nonfinite`` is None; the sentence names the file and the dataset.
        """
        check_input(path, self.network, self._loader())

    def check(self, files: Sequence[str | PathLike]) -> None:
        """Every check made before the first window is computed (see
        :func:`~unet3d_monai.inference.chain_checks.check_prediction`): outputs, room on disk, the segmentation mode
        against the output channels, and each input."""
        check_prediction(files, self.network, self.preprocessing, self.postprocessing)

    def select_inputs(self, inputs: str | PathLike | Sequence[str | PathLike]) -> list[Path]:
        """The volumes of ``inputs`` (a file, a folder, a glob or a list) this run predicts: this machine's share
        (``part``), less those whose outputs are complete (``resume``).

        Raises:
            FileNotFoundError: ``inputs`` names no HDF5/NIfTI/zarr volume.
        """
        return select_inputs(inputs, self.postprocessing, self.part, self.resume)

    def run(self, inputs: str | PathLike | Sequence[str | PathLike]) -> list[Path]:
        """Predict every volume named by ``inputs`` (a file, a folder, a glob or a list); returns the outputs
        (with those of inputs skipped by ``resume``).

        Raises:
            FileNotFoundError: ``inputs`` names no HDF5/NIfTI/zarr volume.
        """
        files = self.select_inputs(inputs)
        complete = [f for f in select_part(find_volume_files(inputs), self.part) if f not in files]
        self.check(files)
        results = [self.output_path(f) for f in complete]
        bar = tqdm(files, desc="volumes", unit="volume") if self.progress and len(files) > 1 else files
        try:
            for path in bar:
                logger.info("Predicting %s", path)
                results.append(self._predict(Path(path)))
        finally:
            self.block_inferer.close()
        return results

    def predict_path(self, path: str | PathLike) -> Path:
        """Predict one HDF5, NIfTI or zarr file (after :meth:`check_input`); returns the output file."""
        path = Path(path)
        self.check_input(path)
        try:
            return self._predict(path)
        finally:
            self.block_inferer.close()

    def _predict(self, path: Path) -> Path:
        """One checked volume through ``preprocessing``, the inferer and ``postprocessing``."""
        data = self.preprocessing({"image": str(path)})
        self.window_predictor.eval()
        image = data["image"]
        with torch.inference_mode():
            if isinstance(image, VolumeOnDisk):
                data["pred"] = self.block_inferer(image, self.window_predictor)
            else:
                data["pred"] = self.inferer(image[None], self.window_predictor)[0]
        return Path(self.postprocessing(data)["pred_path"])


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
    """Predict one HDF5, NIfTI or zarr file with Gaussian sliding windows and write ``<stem>_predictions.h5``.

    A convenience wrapper of :class:`VolumePredictor` with a :class:`FittedSlidingWindowInferer` (windows on
    ``device``, stitched on the CPU); see it for the arguments and the output layout. With ``scheduler``
    (``"local:N"``, a scheduler address or a ``distributed.Client``) the blocks run on a Dask cluster.

    Example::

        net = UNet3D(1, 1, f_maps=32, layer_order="gcr", num_groups=8)
        load_network_weights(net, "models/model.pt")
        predict_file(net, "cells.h5", "out", roi_size=(80, 170, 170), overlap=0.25)   # -> out/cells_predictions.h5
    """
    device = resolve_device(device)
    inferer = cpu_stitched_inferer(roi_size, overlap, sw_batch_size, device, progress)
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
    return predictor.run([input_path])[0]
