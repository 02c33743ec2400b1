"""The prediction chain's inferer: Gaussian sliding windows fitted to each volume, in memory or block by block.

A tensor ``(B, C, *spatial)`` is predicted with MONAI's ``sliding_window_inference``; a volume that goes through the
chain on disk (:class:`~unet3d_monai.inference.on_disk.VolumeOnDisk`, for volumes larger than memory) is predicted
block by block with the same window grid (:class:`~unet3d_monai.inference.block_prediction.BlockwisePrediction`:
MONAI's ``PatchInferer`` per block, partial sums on disk), in this process or on a Dask cluster, and comes back as
:class:`~unet3d_monai.inference.on_disk.PredictionsOnDisk`. Both give the same probabilities (to float rounding).
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from monai.inferers import SlidingWindowInferer
from monai.inferers.utils import sliding_window_inference
from monai.utils import ensure_tuple_rep

from unet3d_monai.inference.block_prediction import BlockwisePrediction, default_block_shape
from unet3d_monai.inference.distributed import connect, parse_scheduler
from unet3d_monai.inference.on_disk import PredictionsOnDisk, VolumeOnDisk
from unet3d_monai.inference.splitter import FittedWindowSplitter
from unet3d_monai.inference.volumes import volume_stem
from unet3d_monai.inference.window_fit import find_network, fit_window, network_min_window, reflect_pad
from unet3d_monai.inference.window_options import check_window_options
from unet3d_monai.inference.window_predictor import network_digest, network_out_channels
from unet3d_monai.options import as_bool, as_optional
from unet3d_monai.runtime.tasks import TaskRunner

__all__ = ["FittedSlidingWindowInferer", "cpu_stitched_inferer"]

logger = logging.getLogger(__name__)


class FittedSlidingWindowInferer(SlidingWindowInferer):
    """MONAI's ``SlidingWindowInferer`` whose window is fitted to each volume it runs on, in memory or block by block.

    For every call the window is ``roi_size`` clipped to the input's spatial shape, and never below the
    network's minimum input (``min_window``, or read from the network with
    :func:`~unet3d_monai.inference.window_fit.network_min_window` when None). Only an axis shorter than that minimum is
    padded, by reflection (edge replication when the axis is too short to reflect), and the output is cropped back.
    Everything else (Gaussian blending, ``sw_batch_size``, devices, buffering) is MONAI's.

    A volume too large for memory comes as a :class:`~unet3d_monai.inference.on_disk.VolumeOnDisk` (or a list of them,
    a batch); it is predicted block by block on the same window grid (blocks of ``block_shape``, or the largest that
    fit ``block_memory_mb``), with partial sums in ``<work_dir>/<stem>_predictions.blocks``, in this process or on the
    Dask cluster of ``scheduler``, and returned as :class:`~unet3d_monai.inference.on_disk.PredictionsOnDisk`. With
    ``resume`` an interrupted block-wise prediction keeps its finished blocks.

    Shapes: input ``(B, C_in, *spatial)``, output ``(B, C_out, *spatial)``; or a list of ``VolumeOnDisk``
    ``(C_in, Z, Y, X)`` in, a list of ``PredictionsOnDisk`` ``(C_out, Z, Y, X)`` out.

    Args:
        roi_size: the largest window, one size per spatial axis of the input (a 2D network's ``(Y, X)`` slides one
            slice deep over a ``(Z, Y, X)`` volume).
        min_window: smallest window per axis; None reads it from the network passed to the call.
        block_shape: spatial block size of block-wise prediction; None fits ``block_memory_mb``.
        block_memory_mb: memory budget of one block with its halo (input, weighted sums and weights).
        work_dir: folder of the block-wise partial sums; None: a temporary folder (then ``resume`` cannot find them).
        scheduler: None predicts blocks in this process; ``"local:N"`` starts a Dask ``LocalCluster`` of N worker
            processes, another text is the address of a running scheduler, a ``distributed.Client`` is used as it is.
            The cluster is connected at the first block-wise volume and kept until :meth:`close`.
        resume: keep the finished blocks of an interrupted block-wise prediction with the same settings.
        others: as :class:`monai.inferers.SlidingWindowInferer` (``padding_mode`` is not used: padding is by
            reflection, and only below the minimum window; ``progress`` shows windows in memory, blocks on disk).

    Example:
        >>> net = torch.nn.Conv3d(1, 1, 3, padding=1)
        >>> inferer = FittedSlidingWindowInferer(roi_size=(80, 64, 64), overlap=0.25, mode="gaussian")
        >>> inferer(torch.zeros(1, 1, 20, 100, 40), net).shape
        torch.Size([1, 1, 20, 100, 40])
    """

    def __init__(
        self,
        roi_size: Sequence[int] | int,
        sw_batch_size: int = 1,
        overlap: Sequence[float] | float = 0.25,
        mode: str = "gaussian",
        sigma_scale: Sequence[float] | float = 0.125,
        cval: float = 0.0,
        sw_device: torch.device | str | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
        cache_roi_weight_map: bool = False,
        cpu_thresh: int | None = None,
        buffer_steps: int | None = None,
        buffer_dim: int = -1,
        with_coord: bool = False,
        min_window: Sequence[int] | None = None,
        block_shape: Sequence[int] | None = None,
        block_memory_mb: float = 256.0,
        work_dir: str | PathLike | None = None,
        scheduler: Any = None,
        resume: bool | str = False,
    ) -> None:
        super().__init__(
            roi_size=roi_size,
            sw_batch_size=sw_batch_size,
            overlap=overlap,
            mode=mode,
            sigma_scale=sigma_scale,
            padding_mode="constant",
            cval=cval,
            sw_device=sw_device,
            device=device,
            progress=progress,
            cache_roi_weight_map=cache_roi_weight_map,
            cpu_thresh=cpu_thresh,
            buffer_steps=buffer_steps,
            buffer_dim=buffer_dim,
            with_coord=with_coord,
        )
        self.min_window = None if min_window is None else tuple(int(m) for m in min_window)
        check_window_options(self.roi_size, self.overlap, self.sw_batch_size, block_shape)
        self.block_shape = None if block_shape is None else tuple(int(b) for b in block_shape)
        if not block_memory_mb > 0:
            raise ValueError(f"block_memory_mb must be positive; got {block_memory_mb}.")
        self.block_memory_bytes = int(block_memory_mb * 2**20)
        self.work_dir = None if work_dir is None else Path(work_dir)
        self.scheduler = as_optional(scheduler)
        if isinstance(self.scheduler, str):
            parse_scheduler(self.scheduler)
        self.resume = as_bool(resume, "resume")
        self._cluster: contextlib.ExitStack | None = None
        self._runner: TaskRunner | None = None

    def window_for(self, spatial_shape: Sequence[int], network: Any = None) -> tuple[int, ...]:
        """The window this inferer uses on a volume of ``spatial_shape`` with ``network``.

        A ``roi_size`` with one size fewer than the volume's axes (a 2D network's ``(Y, X)`` sliding over a
        ``(Z, Y, X)`` volume) is one slice deep.
        """
        roi = ensure_tuple_rep(self.roi_size, len(spatial_shape)) if isinstance(self.roi_size, int) else self.roi_size
        if len(roi) == len(spatial_shape) - 1:
            roi = (1, *roi)
        if len(roi) != len(spatial_shape):
            raise ValueError(
                f"roi_size {tuple(roi)} has {len(roi)} sizes but the input has {len(spatial_shape)} spatial axes "
                f"{tuple(spatial_shape)}."
            )
        minimum = self.min_window
        if minimum is None:
            module = find_network(network)
            minimum = network_min_window(module) if module is not None else None
        return fit_window(roi, spatial_shape, minimum)

    def __call__(self, inputs: Any, network: Callable[..., torch.Tensor], *args: Any, **kwargs: Any) -> Any:
        if isinstance(inputs, VolumeOnDisk):
            return self.predict_on_disk(inputs, network)
        if isinstance(inputs, list | tuple) and inputs and all(isinstance(v, VolumeOnDisk) for v in inputs):
            return [self.predict_on_disk(volume, network) for volume in inputs]
        spatial = tuple(inputs.shape[2:])
        window = self.window_for(spatial, network)
        if any(w > s for w, s in zip(window, spatial)):
            logger.info(
                "Volume %s is smaller than the network's minimum window %s along some axis: padded by reflection.",
                spatial,
                window,
            )
        padded, extra = reflect_pad(inputs, window)
        cached = self.roi_weight_map
        overlap = self.overlap
        if isinstance(overlap, Sequence) and len(overlap) == len(spatial) - 1:
            overlap = (0.0, *overlap)
        device = kwargs.pop("device", self.device)
        buffer_steps = kwargs.pop("buffer_steps", self.buffer_steps)
        buffer_dim = kwargs.pop("buffer_dim", self.buffer_dim)
        if device is None and self.cpu_thresh is not None and padded.shape[2:].numel() > self.cpu_thresh:
            device = "cpu"
        output = sliding_window_inference(
            padded,
            window,
            self.sw_batch_size,
            network,
            overlap,
            self.mode,
            self.sigma_scale,
            "constant",
            self.cval,
            self.sw_device,
            device,
            self.progress,
            cached if cached is not None and tuple(cached.shape[-len(window) :]) == window else None,
            None,
            buffer_steps,
            buffer_dim,
            self.with_coord,
            *args,
            **kwargs,
        )
        if any(extra):
            crop = (slice(None), slice(None), *(slice(0, s) for s in spatial))
            output = output[crop]
        return output

    def _window_settings(self, spatial_dims: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
        """``roi_size`` and ``overlap`` with one value per axis of a ``(Z, Y, X)`` volume (a 2D network's windows are
        one slice deep and do not overlap along Z)."""
        roi = ensure_tuple_rep(self.roi_size, spatial_dims) if isinstance(self.roi_size, int) else self.roi_size
        roi = tuple(int(r) for r in roi)
        overlap = self.overlap
        if isinstance(overlap, Sequence) and len(overlap) == len(roi) - 1 == spatial_dims - 1:
            overlap = (0.0, *overlap)
        if len(roi) == spatial_dims - 1:
            roi = (1, *roi)
        return roi, tuple(float(o) for o in ensure_tuple_rep(overlap, spatial_dims))

    def runner(self) -> TaskRunner | None:
        """Where the block tasks run: the ``scheduler``'s cluster (connected once, kept until :meth:`close`), or None
        for this process."""
        if self.scheduler is None:
            return None
        if self._runner is None:
            stack = contextlib.ExitStack()
            self._runner = stack.enter_context(connect(self.scheduler))
            self._cluster = stack
        return self._runner

    def close(self) -> None:
        """Disconnect from the Dask cluster (and stop a ``local:N`` one); the next block-wise volume reconnects."""
        if self._cluster is not None:
            self._cluster.close()
        self._cluster, self._runner = None, None

    def predict_on_disk(self, volume: VolumeOnDisk, network: Callable[..., torch.Tensor]) -> PredictionsOnDisk:
        """Predict ``volume`` block by block with ``network`` (see the class); the result stays on disk until read."""
        spatial = volume.spatial_shape
        module = find_network(network)
        if module is None:
            raise TypeError("Block-wise prediction needs the network as a torch module (or a wrapper of one).")
        min_window = self.min_window or network_min_window(module)
        roi, overlap = self._window_settings(len(spatial))
        splitter = FittedWindowSplitter(roi, overlap, min_window)
        window = splitter.window_for(spatial)
        out_channels = network_out_channels(module)
        path = Path(volume.path)
        fingerprint = {
            "input": str(path.resolve()),
            "input_mtime_ns": path.stat().st_mtime_ns,
            "raw_key": volume.key,
            "normalization": volume.normalization,
            "replace_nonfinite": volume.replace_nonfinite,
            "grid": None if volume.grid is None else list(volume.grid),
            "window": list(window),
            "overlap": list(splitter.overlap),
            "sigma_scale": str(self.sigma_scale),
            "tta": bool(getattr(getattr(network, "predictor", network), "tta", False)),
            "network": network_digest(module),
        }
        block_shape = self.block_shape
        if block_shape is None and volume.grid is not None:
            # a task reads its block's region of the input: more voxels than the block where the input is finer
            reads = math.prod(max(1.0, s / g) for s, g in zip(volume.stored_spatial_shape, volume.grid))
            channels = math.ceil(volume.shape[0] * reads) + out_channels + 1
            block_shape = default_block_shape(spatial, window, channels, self.block_memory_bytes)
        if self.work_dir is None:
            work_dir = Path(tempfile.mkdtemp(prefix=f"{volume_stem(path)}_predictions.", suffix=".blocks"))
        else:
            work_dir = self.work_dir / f"{volume_stem(path)}_predictions.blocks"
        sw_device = self.sw_device
        if sw_device is None:
            sw_device = next((p.device for p in module.parameters()), torch.device("cpu"))
        engine = BlockwisePrediction(
            network,
            splitter,
            work_dir,
            mode=str(self.mode),
            sigma_scale=self.sigma_scale,
            sw_batch_size=int(self.sw_batch_size),
            device=sw_device,
            block_shape=block_shape,
            block_memory_bytes=self.block_memory_bytes,
            fingerprint=fingerprint,
            resume=self.resume,
            progress=bool(self.progress),
            runner=self.runner(),
        )
        with volume.open() as opened:
            chunks = _spatial_chunks(opened) if volume.grid is None else None
            plan = engine.plan(volume.shape, out_channels, chunks)
            engine.run(volume if engine.runner is not None else opened, None, out_channels, chunks)
        predictions = PredictionsOnDisk(plan, work_dir / "partials", work_dir, out_channels)
        predictions.runner = engine.runner
        return predictions


def _spatial_chunks(volume: Any) -> tuple[int, ...] | None:
    """The input's chunk shape along ``(Z, Y, X)`` when it is stored chunked as ``(Z, Y, X)`` or ``(C, Z, Y, X)``."""
    chunks = getattr(volume, "chunks", None)
    stored = getattr(volume, "stored_shape", ())
    if chunks is None or len(stored) < 3 or getattr(volume, "channels_first_3d", False):
        return None
    return tuple(int(c) for c in chunks[-3:])


def cpu_stitched_inferer(
    roi_size: Sequence[int] | int,
    overlap: Sequence[float] | float,
    sw_batch_size: int,
    device: torch.device,
    progress: bool = False,
    min_window: Sequence[int] | None = None,
) -> FittedSlidingWindowInferer:
    """The inferer of the prediction functions: Gaussian-blended windows fitted to the volume, run on ``device``
    and stitched on the CPU (a whole volume's output never has to fit in accelerator memory).

    Example:
        >>> inferer = cpu_stitched_inferer((80, 64, 64), overlap=0.25, sw_batch_size=2, device=torch.device("cpu"))
        >>> inferer(torch.zeros(1, 1, 20, 100, 40), torch.nn.Conv3d(1, 1, 3, padding=1)).shape
        torch.Size([1, 1, 20, 100, 40])
    """
    return FittedSlidingWindowInferer(
        roi_size=roi_size,
        sw_batch_size=sw_batch_size,
        overlap=overlap,
        mode="gaussian",
        sw_device=device,
        device=torch.device("cpu"),
        progress=progress,
        min_window=min_window,
    )
