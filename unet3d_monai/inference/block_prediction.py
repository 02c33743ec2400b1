"""Block-wise prediction of volumes larger than memory: MONAI's ``PatchInferer`` per block, partials on disk.

A volume is cut into blocks. Each window of the volume's global grid (MONAI's ``sliding_window_inference``
grid, see :class:`~unet3d_monai.inference.splitter.FittedWindowSplitter`) belongs to the block holding its
first voxel. Two steps, each a task per block:

1. predict: ``PatchInferer(FittedWindowSplitter, GaussianWeightedMerger)`` runs the windows the block owns and
   writes their Gaussian-weighted sums and weights, over the block plus the halo they reach, to a
   :class:`~unet3d_monai.inference.partials.PartialStore` (one file per block, renamed into place when whole);
2. assemble: once every block whose halo reaches an output block is predicted, the output block is the sum
   of their partials over it divided by the summed weights; it is written whole, so output chunks aligned with
   blocks each have one writer.

The result equals in-memory prediction (to float rounding). The tasks run one after the other in this process,
or on a Dask cluster (:mod:`unet3d_monai.inference.distributed`): each task opens the input itself, from its
path, and writes its files itself; only block indices travel through the scheduler.

A run records its settings in ``<work_dir>/plan.json``; with ``resume`` a later run keeps every finished
partial (and, for outputs written on the workers, every assembled block) and computes only the rest.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from monai.inferers import PatchInferer

from unet3d_monai.inference.allocation import reuse_freed_memory
from unet3d_monai.inference.merger import GaussianWeightedMerger
from unet3d_monai.inference.partials import PartialStore
from unet3d_monai.inference.splitter import FittedWindowSplitter, RegionSource, VolumeBlock
from unet3d_monai.io.atomic import atomic_write
from unet3d_monai.io.region import Region
from unet3d_monai.runtime.tasks import SequentialTasks, TaskRunner, watched

__all__ = ["BlockPlan", "BlockwisePrediction", "assemble_block", "default_block_shape"]

logger = logging.getLogger(__name__)

Key = tuple[int, ...]


def default_block_shape(
    image_size: Sequence[int],
    roi_size: Sequence[int],
    channels: int,
    memory_bytes: int = 256 * 2**20,
    chunks: Sequence[int] | None = None,
) -> tuple[int, ...]:
    """Largest block (halving the longest axis, never below the roi) whose buffers fit ``memory_bytes``.

    ``channels`` is the number of float32 values held per voxel of a block plus its halo (input, weighted sums
    and weights). With the input's ``chunks``, a block larger than a chunk is rounded down to whole chunks, so
    that blocks read whole chunks.

    Example:
        >>> default_block_shape((512, 512, 512), (64, 64, 64), channels=4, memory_bytes=64 * 2**20)
        (64, 64, 128)
    """
    block = [int(s) for s in image_size]
    roi = [min(int(r), int(s)) for r, s in zip(roi_size, image_size)]

    def nbytes(shape: Sequence[int]) -> int:
        return 4 * channels * math.prod(min(b + r, s + r) for b, r, s in zip(shape, roi, image_size))

    while nbytes(block) > memory_bytes:
        ratios = [b / r if b > r else 0.0 for b, r in zip(block, roi)]
        axis = int(np.argmax(ratios))
        if ratios[axis] == 0.0:
            break
        block[axis] = max(roi[axis], math.ceil(block[axis] / 2))
    if chunks is not None:
        block = [b - b % c if c <= b < s else b for b, c, s in zip(block, chunks, image_size)]
    return tuple(block)


class BlockPlan:
    """The blocks of a volume, the halo each block's windows cover, and the blocks each output block needs.

    Blocks are ``block_shape`` boxes from the volume's origin (the last ones clipped), indexed by their grid
    position. Along each axis the windows a block owns and the halo they cover follow from the window starts
    (:meth:`FittedWindowSplitter.axis_starts`), so the plan costs nothing per window.

    Example:
        >>> plan = BlockPlan(FittedWindowSplitter((8, 8, 8), overlap=0.5), (20, 16, 16), (10, 16, 16))
        >>> plan.grid_shape, plan.halo((0, 0, 0)), plan.sources((1, 0, 0))
        ((2, 1, 1), (slice(0, 16, None), slice(0, 16, None), slice(0, 16, None)), [(0, 0, 0), (1, 0, 0)])
    """

    def __init__(
        self, splitter: FittedWindowSplitter, spatial_shape: Sequence[int], block_shape: Sequence[int]
    ) -> None:
        self.spatial_shape = tuple(int(s) for s in spatial_shape)
        self.block_shape = tuple(int(b) for b in block_shape)
        if len(self.block_shape) != len(self.spatial_shape) or min(self.block_shape) < 1:
            raise ValueError(f"block_shape {tuple(block_shape)} must hold {len(self.spatial_shape)} positive sizes.")
        self.window = splitter.window_for(self.spatial_shape)
        self.grid_shape = tuple(math.ceil(s / b) for s, b in zip(self.spatial_shape, self.block_shape))
        starts = splitter.axis_starts(self.spatial_shape)
        # per axis and block index: the halo [first owned start, last owned start + window) or None
        self._halos: list[list[tuple[int, int] | None]] = []
        self._counts: list[list[int]] = []
        for axis_starts, b, w, s, n in zip(starts, self.block_shape, self.window, self.spatial_shape, self.grid_shape):
            halos, counts = [], []
            for index in range(n):
                owned = [p for p in axis_starts if index * b <= p < (index + 1) * b]
                halos.append((owned[0], min(owned[-1] + w, s)) if owned else None)
                counts.append(len(owned))
            self._halos.append(halos)
            self._counts.append(counts)

    def blocks(self) -> Iterator[Key]:
        """Every block index, in C order."""
        return itertools.product(*(range(n) for n in self.grid_shape))

    def region(self, key: Key) -> Region:
        """The block's spatial region."""
        return tuple(slice(k * b, min((k + 1) * b, s)) for k, b, s in zip(key, self.block_shape, self.spatial_shape))

    def windows(self, key: Key) -> int:
        """Number of windows the block owns."""
        return math.prod(counts[k] for counts, k in zip(self._counts, key))

    def halo(self, key: Key) -> Region | None:
        """The region the block's windows cover (None: it owns no window)."""
        bounds = [halos[k] for halos, k in zip(self._halos, key)]
        return None if any(b is None for b in bounds) else tuple(slice(a, b) for a, b in bounds)

    def sources(self, key: Key) -> list[Key]:
        """The blocks whose windows reach block ``key``: their partials add up to its output."""
        per_axis = []
        for halos, k, b, s in zip(self._halos, key, self.block_shape, self.spatial_shape):
            start, stop = k * b, min((k + 1) * b, s)
            per_axis.append([i for i, h in enumerate(halos) if h is not None and h[0] < stop and start < h[1]])
        return list(itertools.product(*per_axis))

    def describe(self) -> dict[str, Any]:
        """What determines the partials: shapes and window (recorded for resuming)."""
        return {
            "spatial_shape": list(self.spatial_shape),
            "block_shape": list(self.block_shape),
            "window": list(self.window),
        }


class OpensVolume(Protocol):
    """A picklable description of an input that each task opens itself (see
    :class:`~unet3d_monai.inference.on_disk.VolumeOnDisk`)."""

    def open(self) -> contextlib.AbstractContextManager[RegionSource]: ...


@dataclass(frozen=True)
class _BlockTask:
    """Everything one predict task needs, small enough to send with the task."""

    key: Key
    block: Region
    halo: Region
    partials: str
    roi_size: tuple[int, ...]
    overlap: tuple[float, ...]
    min_window: tuple[int, ...] | None
    mode: str
    sigma_scale: Any
    sw_batch_size: int
    device: str
    torch_threads: int | dict[str, int] | None = None


def _set_torch_threads(requested: int | dict[str, int] | None) -> None:
    """Give torch ``requested`` threads. Inside a Dask worker, a mapping gives the worker threads of each host:
    a task then takes the host's cores divided by them (each concurrent task its share); without a request, the
    cores divided by the worker's own threads."""
    threads = requested if isinstance(requested, int) else None
    if threads is None:
        worker = _dask_worker()
        if worker is not None:
            host = worker.address.rsplit(":", 1)[0]
            sharing = (requested or {}).get(host, int(worker.state.nthreads))
            threads = max(1, len(os.sched_getaffinity(0)) // max(1, sharing))
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _dask_worker() -> Any:
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def predict_block(task: _BlockTask, source: RegionSource | OpensVolume, predictor: Callable) -> Key:
    """Predict the windows block ``task.key`` owns and write their partial (a task of block-wise prediction)."""
    _set_torch_threads(task.torch_threads)
    splitter = FittedWindowSplitter(task.roi_size, task.overlap, task.min_window)
    inferer = PatchInferer(
        splitter,
        GaussianWeightedMerger,
        batch_size=task.sw_batch_size,
        preprocessing=lambda windows: windows.to(task.device),
        mode=task.mode,
        sigma_scale=task.sigma_scale,
        region=task.halo,
        store=PartialStore(task.partials),
        key=task.key,
    )
    opened = source.open() if hasattr(source, "open") else contextlib.nullcontext(source)
    with reuse_freed_memory(), opened as volume, torch.inference_mode():
        inferer(VolumeBlock(volume, task.block), predictor)
    return task.key


def assemble_block(plan: BlockPlan, key: Key, partials: str) -> np.ndarray:
    """The output ``(C, *region)`` of block ``key``: its sources' partials added up, divided by the weights."""
    store = PartialStore(partials)
    region = plan.region(key)
    total: np.ndarray | None = None
    for source in plan.sources(key):
        halo = plan.halo(source)
        overlap = tuple(slice(max(r.start, h.start), min(r.stop, h.stop)) for r, h in zip(region, halo))
        part = store.read(source, tuple(slice(o.start - h.start, o.stop - h.start) for o, h in zip(overlap, halo)))
        if total is None:
            total = np.zeros((part.shape[0], *(r.stop - r.start for r in region)), dtype=np.float32)
        total[(slice(None), *(slice(o.start - r.start, o.stop - r.start) for o, r in zip(overlap, region)))] += part
    if total is None:
        raise ValueError(f"Block {key} of the volume {plan.spatial_shape} is covered by no window.")
    predictions = total[:-1]
    predictions /= total[-1:]
    return predictions


def assemble_and_write(plan: BlockPlan, key: Key, partials: str, write_block: Callable, marker: str) -> Key:
    """Assemble block ``key``, write it with ``write_block(region, predictions)`` and record it as written (a task of
    block-wise prediction whose output takes concurrent writers of whole chunks, e.g. zarr)."""
    write_block(plan.region(key), assemble_block(plan, key, partials))
    Path(marker).touch()
    return key


@dataclass
class BlockwiseReport:
    """What one run did: the blocks it predicted and assembled, those an earlier run had finished, and the number of
    blocks in the volume."""

    blocks: int
    predicted: list[Key] = field(default_factory=list)
    assembled: list[Key] = field(default_factory=list)
    predicted_before: list[Key] = field(default_factory=list)
    assembled_before: list[Key] = field(default_factory=list)


class BlockwisePrediction:
    """Sliding-window prediction of a volume larger than memory, block by block, with the in-memory result.

    See the module docstring for the two steps. Memory holds one block plus its halo (input, weighted sums and
    weights) per task, whatever the volume's size. ``work_dir`` holds the partials, the record of the settings
    (``plan.json``) and, when blocks are written by the tasks, one marker per written block; remove it with
    :meth:`cleanup` once the output is complete.

    Args:
        predictor: maps windows ``(B, C_in, *window)`` to probabilities ``(B, C_out, *window)`` (picklable to run
            on a cluster, e.g. :class:`~unet3d_monai.inference.window_predictor.WindowPredictor`).
        splitter: the window grid (roi, overlap, network minimum).
        work_dir: folder for partials and progress, shared by every process of the run.
        mode: ``"gaussian"`` or ``"constant"`` blending.
        sigma_scale: the Gaussian's sigma relative to the window.
        sw_batch_size: windows per forward pass.
        device: where windows are predicted.
        block_shape: block size; None fits ``block_memory_bytes`` (whole chunks of the input when it is chunked).
        block_memory_bytes: memory budget of one block with its halo.
        fingerprint: what else determines the result (input, network, options); a resumed run must match it.
        resume: keep the work of an interrupted run with the same settings.
        progress: one progress bar of predicted blocks (with blocks per second).
        runner: where the tasks run; None runs them in this process.

    Example::

        engine = BlockwisePrediction(predictor, FittedWindowSplitter((64, 128, 128)), "out/a.blocks")
        engine.run(volume, lambda region, block: output.__setitem__((slice(None), *region), block))
        engine.cleanup()
    """

    def __init__(
        self,
        predictor: Callable[[torch.Tensor], torch.Tensor],
        splitter: FittedWindowSplitter,
        work_dir: str | PathLike,
        mode: str = "gaussian",
        sigma_scale: Sequence[float] | float = 0.125,
        sw_batch_size: int = 1,
        device: torch.device | str = "cpu",
        block_shape: Sequence[int] | None = None,
        block_memory_bytes: int = 256 * 2**20,
        fingerprint: dict | None = None,
        resume: bool = False,
        progress: bool = False,
        runner: TaskRunner | None = None,
    ) -> None:
        if sw_batch_size < 1:
            raise ValueError(f"sw_batch_size must be at least 1; got {sw_batch_size}.")
        self.predictor = predictor
        self.splitter = splitter
        self.work_dir = Path(work_dir)
        self.mode = str(mode)
        self.sigma_scale = sigma_scale
        self.sw_batch_size = int(sw_batch_size)
        self.device = str(torch.device(device))
        self.block_shape = None if block_shape is None else tuple(int(b) for b in block_shape)
        self.block_memory_bytes = int(block_memory_bytes)
        self.fingerprint = dict(fingerprint or {})
        self.resume = resume
        self.progress = progress
        self.runner = runner

    def plan(self, shape: Sequence[int], out_channels: int = 1, chunks: Sequence[int] | None = None) -> BlockPlan:
        """The blocks of a ``(C, *spatial)`` volume (``chunks``: the input's spatial chunk shape, if any)."""
        spatial = tuple(int(s) for s in shape[1:])
        block_shape = self.block_shape or default_block_shape(
            spatial,
            self.splitter.window_for(spatial),
            int(shape[0]) + int(out_channels) + 1,
            self.block_memory_bytes,
            chunks,
        )
        return BlockPlan(self.splitter, spatial, block_shape)

    def _prepare(self, plan: BlockPlan) -> None:
        record = {"fingerprint": self.fingerprint, "plan": plan.describe(), "mode": self.mode}
        record = json.loads(json.dumps(record, default=str))
        record_path = self.work_dir / "plan.json"
        if self.work_dir.exists():
            if self.resume and record_path.is_file():
                recorded = json.loads(record_path.read_text())
                if recorded != record:
                    raise ValueError(
                        f"Cannot resume from '{self.work_dir}': it was written with other settings or another "
                        "input or network; run with --resume false to start afresh."
                    )
                return
            shutil.rmtree(self.work_dir)
        self.work_dir.mkdir(parents=True)
        with atomic_write(record_path, "w") as handle:
            handle.write(json.dumps(record, indent=1))

    def run(
        self,
        source: RegionSource | OpensVolume,
        write_block: Callable[[Region, np.ndarray], None] | None,
        out_channels: int = 1,
        chunks: Sequence[int] | None = None,
        write_on_workers: bool = False,
        output_fresh: bool = True,
    ) -> BlockwiseReport:
        """Predict ``source`` (an open volume, or a :class:`~unet3d_monai.inference.on_disk.VolumeOnDisk` every task
        opens) and hand every output block ``(C_out, *block)`` to ``write_block(region, predictions)``; with
        ``write_block`` None, only predict the partials (read them later with :func:`assemble_block`).

        With ``write_on_workers`` the tasks write the blocks themselves (``write_block`` must be picklable and the
        output must accept one writer per block, e.g. zarr chunked by blocks); blocks written by an earlier run are
        skipped unless ``output_fresh`` says the output was created anew. Otherwise this process writes every
        block (HDF5).
        """
        shape = source.shape if hasattr(source, "shape") else _shape_of(source)
        plan = self.plan(shape, out_channels, chunks)
        self._prepare(plan)
        partials = PartialStore(self.work_dir / "partials")
        markers = self.work_dir / "assembled"
        if output_fresh or not write_on_workers:
            shutil.rmtree(markers, ignore_errors=True)
        markers.mkdir(exist_ok=True)

        blocks = list(plan.blocks())
        owning = [k for k in blocks if plan.halo(k) is not None]
        todo = [k for k in owning if not partials.has(k)]
        sources = {k: plan.sources(k) for k in blocks}
        dependents: dict[Key, list[Key]] = {k: [] for k in owning}
        for key, feeding in sources.items():
            for s in feeding:
                dependents[s].append(key)
        waiting = {k: {s for s in sources[k] if not partials.has(s)} for k in blocks}
        assembled = {k for k in blocks if write_on_workers and (markers / _marker_name(k)).exists()}
        report = BlockwiseReport(
            blocks=len(blocks),
            predicted_before=[k for k in owning if k not in set(todo)],
            assembled_before=sorted(assembled),
        )
        logger.info(
            "Block-wise prediction of %s in %d blocks of %s (window %s): %d to predict, %d already done.",
            plan.spatial_shape,
            len(blocks),
            plan.block_shape,
            plan.window,
            len(todo),
            len(owning) - len(todo),
        )

        runner = self.runner or SequentialTasks()
        source_ref = source if hasattr(source, "open") else runner.share(source)
        predictor_ref = runner.share(self.predictor)
        partials_dir = str(partials.folder)
        jobs: dict[Any, tuple[str, Key]] = {}

        def start_assembly(key: Key) -> None:
            if write_block is None:
                return
            if write_on_workers:
                marker = str(markers / _marker_name(key))
                jobs[runner.submit(assemble_and_write, plan, key, partials_dir, write_block, marker)] = (
                    "assemble",
                    key,
                )
            else:
                write_block(plan.region(key), assemble_block(plan, key, partials_dir))
                finished(key)

        def finished(key: Key) -> None:
            assembled.add(key)
            report.assembled.append(key)
            if write_on_workers:
                for s in sources[key]:
                    if all(d in assembled for d in dependents[s]):
                        partials.remove(s)

        for key in todo:
            task = _BlockTask(
                key,
                plan.region(key),
                plan.halo(key),
                partials_dir,
                tuple(self.splitter.patch_size),
                self.splitter.overlap,
                self.splitter.min_window,
                self.mode,
                self.sigma_scale,
                self.sw_batch_size,
                self.device,
                runner.torch_threads,
            )
            jobs[runner.submit(predict_block, task, source_ref, predictor_ref)] = ("predict", key)
        for key in blocks:
            if not waiting[key] and key not in assembled:
                start_assembly(key)
        with watched(runner, len(todo), "blocks", self.progress) as tick:
            for future in runner.completed():
                kind, key = jobs.pop(future)
                future.result()
                if kind == "assemble":
                    finished(key)
                    continue
                report.predicted.append(key)
                tick()
                for dependent in dependents[key]:
                    waiting[dependent].discard(key)
                    if not waiting[dependent] and dependent not in assembled:
                        start_assembly(dependent)
        missing = [k for k in blocks if k not in assembled] if write_block is not None else []
        if missing:
            raise RuntimeError(f"Block-wise prediction ended with {len(missing)} blocks unwritten, e.g. {missing[0]}.")
        return report

    def cleanup(self) -> None:
        """Remove the work folder (call once the output is complete)."""
        shutil.rmtree(self.work_dir, ignore_errors=True)


def _marker_name(key: Key) -> str:
    return "block-" + "-".join(str(k) for k in key)


def _shape_of(source: OpensVolume) -> tuple[int, ...]:
    with source.open() as volume:
        return tuple(volume.shape)
