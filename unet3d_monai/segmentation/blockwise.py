"""Instance segmentation of a probability map larger than memory: blocks with a halo, stitched across their faces.

Each block of the map is segmented by the :class:`~unet3d_monai.segmentation.segmenter.Segmenter` together with a
halo of context around it (seeds, distance transform and watershed computed on block plus halo), and only the labels
of the block's own region are kept. Objects that meet across a face between two blocks are then joined: the labels
the lower block gave the first layer of the upper block, seen through its halo, are compared with the labels the
upper block gave that layer itself, and two labels covering mostly the same voxels there (each at least half of the
other's) are one object. Ids are made unique by a per-block offset and joined through a union-find, and every
object gets one consecutive id in a last pass.

Two kinds of tasks, each per block, run in this process or on a cluster (any
:class:`~unet3d_monai.runtime.tasks.TaskRunner`): segment (the block's labels and the faces it sees, written to the
work folder), then relabel (the block's labels through the joined ids, handed to the writer). Only block indices and
small tables go through the runner; each task reads its region of the probabilities itself.

The result approaches the in-memory segmentation as the halo grows: a watershed's seeds need the distance transform
of the objects they sit in, so the halo must reach across the largest object (see :func:`required_halo`).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from unet3d_monai.io.atomic import atomic_write
from unet3d_monai.io.region import Region
from unet3d_monai.runtime.tasks import SequentialTasks, TaskRunner, watched
from unet3d_monai.segmentation.segmenter import DISTANCE_MODES, Segmenter

__all__ = ["BlockwiseSegmentation", "ProbabilitySource", "check_block_shape", "required_halo"]

logger = logging.getLogger(__name__)

Key = tuple[int, ...]


class ProbabilitySource(Protocol):
    """A probability map ``(C, Z, Y, X)`` read region by region; picklable when tasks run on a cluster (each task
    then reads through its own copy)."""

    shape: tuple[int, ...]

    def read(self, region: Region) -> np.ndarray:
        """float32 ``(C, *region)``."""
        ...


def required_halo(
    segmenter: Segmenter,
    object_size: Sequence[float] | float,
    sampling: Sequence[float] | None = None,
    unit: float | None = None,
) -> tuple[int, ...]:
    """The halo (voxels per axis of a ``(Z, Y, X)`` map) a block needs for ``segmenter`` to label the objects of its
    own region as it would in the whole map: the size of the largest object, ``object_size`` (voxels along each axis,
    or one number for all), which the distance transform and the components reaching into the block span, plus, for
    the watershed modes, ``min_distance`` between seeds (voxels of the finest axis of ``sampling``, or of ``unit``,
    converted to each axis).

    Example:
        >>> required_halo(Segmenter("foreground_watershed", min_distance=3), 20)
        (23, 23, 23)
        >>> required_halo(Segmenter("foreground_watershed", min_distance=3), (5, 20, 20), sampling=(2.0, 0.5, 0.5))
        (6, 23, 23)
        >>> required_halo(Segmenter("boundary_components"), 20)
        (20, 20, 20)
    """
    sizes = [float(object_size)] * 3 if isinstance(object_size, int | float) else [float(s) for s in object_size]
    if len(sizes) != 3 or min(sizes) <= 0:
        raise ValueError(f"--object_size {object_size} must be one or three positive sizes in voxels (Z, Y, X).")
    spacing = [1.0, 1.0, 1.0] if sampling is None else [float(s) for s in sampling][-3:]
    length = (min(spacing) if unit is None else float(unit)) * (
        segmenter.min_distance if segmenter.mode in DISTANCE_MODES else 0
    )
    return tuple(max(1, math.ceil(size + length / step)) for size, step in zip(sizes, spacing))


def check_block_shape(block_shape: Sequence[int], halo: Sequence[int]) -> None:
    """Refuse, in one sentence, blocks smaller than twice the halo along an axis (blocks that are mostly halo, cut
    through objects the halo is sized for).

    Raises:
        ValueError: naming the block shape, the halo and the axes.
    """
    small = [name for name, b, h in zip("ZYX", block_shape, halo) if int(b) < 2 * int(h)]
    if small:
        raise ValueError(
            f"--block_shape {list(block_shape)} must be at least twice the halo {list(halo)} along each axis "
            f"(not along {', '.join(small)}): the halo covers the largest object and the seeds' distance, so blocks "
            "smaller than that cut through objects the halo cannot see whole."
        )


@dataclass(frozen=True)
class _Blocks:
    """The blocks of a map: ``block_shape`` boxes from the origin, each read with ``halo`` around it."""

    spatial_shape: tuple[int, ...]
    block_shape: tuple[int, ...]
    halo: tuple[int, ...]

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(math.ceil(s / b) for s, b in zip(self.spatial_shape, self.block_shape))

    def keys(self) -> Iterator[Key]:
        return itertools.product(*(range(n) for n in self.grid))

    def region(self, key: Key) -> Region:
        return tuple(slice(k * b, min((k + 1) * b, s)) for k, b, s in zip(key, self.block_shape, self.spatial_shape))

    def with_halo(self, key: Key) -> Region:
        return tuple(
            slice(max(0, r.start - h), min(s, r.stop + h))
            for r, h, s in zip(self.region(key), self.halo, self.spatial_shape)
        )


def _label_file(work_dir: str, key: Key) -> Path:
    return Path(work_dir) / ("labels-" + "-".join(map(str, key)) + ".npy")


def _face_file(work_dir: str, key: Key, axis: int) -> Path:
    return Path(work_dir) / (f"face{axis}-" + "-".join(map(str, key)) + ".npy")


def segment_block(
    blocks: _Blocks,
    key: Key,
    source: ProbabilitySource,
    segmenter: Segmenter,
    sampling: tuple[float, ...] | None,
    unit: float | None,
    work_dir: str,
) -> tuple[Key, int]:
    """Segment block ``key`` with its halo; write its own labels and, for each upper neighbour, the labels its halo
    gives the neighbour's first layer. Returns the key and the number of labels (ids ``1..n``)."""
    outer = blocks.with_halo(key)
    inner = blocks.region(key)
    labels = segmenter(source.read(outer), sampling, unit)
    own = tuple(slice(r.start - o.start, r.stop - o.start) for r, o in zip(inner, outer))
    # the block's own labels renumbered 1..n (0 stays background); labels found in the halo alone map to 0
    ids = np.unique(labels[own])
    ids = ids[ids > 0]
    table = np.zeros(int(labels.max()) + 1, dtype=np.uint32)
    table[ids] = np.arange(1, ids.size + 1, dtype=np.uint32)
    core = table[labels[own]]
    with atomic_write(_label_file(work_dir, key)) as handle:
        np.save(handle, core, allow_pickle=False)
    for axis in range(3):
        stop = inner[axis].stop
        if stop >= blocks.spatial_shape[axis]:
            continue
        layer = list(own)
        layer[axis] = slice(stop - outer[axis].start, stop - outer[axis].start + 1)
        # the halo's labels of the neighbour's first layer, in this block's ids (0 where the label is not one of its
        # own: an object of the halo alone cannot be joined to this block's objects)
        face = table[labels[tuple(layer)].squeeze(axis)]
        with atomic_write(_face_file(work_dir, key, axis)) as handle:
            np.save(handle, face, allow_pickle=False)
    return key, int(ids.size)


def _finished(work_dir: Path, blocks: _Blocks, key: Key) -> bool:
    """Whether block ``key``'s labels and faces were written (each file is renamed into place when whole)."""
    faces = [axis for axis in range(3) if blocks.region(key)[axis].stop < blocks.spatial_shape[axis]]
    return _label_file(str(work_dir), key).is_file() and all(
        _face_file(str(work_dir), key, axis).is_file() for axis in faces
    )


def _count(work_dir: Path, key: Key) -> int:
    """The number of labels of a segmented block (its labels are 1..n)."""
    labels = np.load(_label_file(str(work_dir), key), mmap_mode="r")
    return int(labels.max()) if labels.size else 0


def relabel_block(blocks: _Blocks, key: Key, lookup: np.ndarray, work_dir: str) -> tuple[Key, np.ndarray]:
    """Block ``key``'s labels through ``lookup`` (its local ids to the final ones)."""
    return key, lookup[np.load(_label_file(work_dir, key))]


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = np.arange(size, dtype=np.int64)

    def find(self, item: int) -> int:
        root = item
        while self.parent[root] != root:
            root = int(self.parent[root])
        while self.parent[item] != root:
            self.parent[item], item = root, int(self.parent[item])
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _matches(face: np.ndarray, first_layer: np.ndarray) -> list[tuple[int, int]]:
    """Label pairs ``(a, b)`` covering mostly the same voxels of a layer: at least half of each one's voxels."""
    both = (face > 0) & (first_layer > 0)
    if not both.any():
        return []
    pairs, counts = np.unique(np.stack([face[both], first_layer[both]]), axis=1, return_counts=True)
    size_a = dict(zip(*np.unique(face[face > 0], return_counts=True)))
    size_b = dict(zip(*np.unique(first_layer[first_layer > 0], return_counts=True)))
    return [
        (int(a), int(b)) for (a, b), count in zip(pairs.T, counts) if 2 * count >= size_a[a] and 2 * count >= size_b[b]
    ]


class BlockwiseSegmentation:
    """Instance segmentation of a probability map ``(1, Z, Y, X)`` larger than memory (see the module docstring).

    Args:
        segmenter: the :class:`~unet3d_monai.segmentation.segmenter.Segmenter` (an instance mode).
        block_shape: the blocks ``(Z, Y, X)``; each at least twice the halo.
        halo: voxels of context around each block ``(Z, Y, X)`` (or one for every axis); see :func:`required_halo`.
        work_dir: folder of the blocks' labels until the result is written (removed by :meth:`run` at the end).
        sampling: the map's voxel size along ``(Z, Y, X)`` (distances of the watershed modes), or None (cubes).
        unit: the length ``min_distance`` counts (see :class:`Segmenter`).
        runner: where the tasks run; None: in this process, one after the other.
        progress: a progress bar over the blocks.
        resume: keep the blocks an interrupted run with the same settings and ``fingerprint`` segmented.
        fingerprint: what else determines the result (the probability map: its file and modification time).

    Example::

        segmentation = BlockwiseSegmentation(Segmenter("foreground_watershed"), (64, 256, 256), 24, "out/a.labels")
        count = segmentation.run(probabilities, lambda region, labels: output.__setitem__(region, labels))
    """

    def __init__(
        self,
        segmenter: Segmenter,
        block_shape: Sequence[int],
        halo: Sequence[int] | int,
        work_dir: str | PathLike,
        sampling: Sequence[float] | None = None,
        unit: float | None = None,
        runner: TaskRunner | None = None,
        progress: bool = False,
        resume: bool = False,
        fingerprint: dict | None = None,
    ) -> None:
        if not segmenter.is_instance:
            raise ValueError(
                f"Block-wise segmentation is for the instance modes; '{segmenter.mode.value}' labels each voxel on its "
                "own and needs no halo."
            )
        self.block_shape = tuple(int(b) for b in block_shape)
        self.halo = (int(halo),) * 3 if isinstance(halo, int) else tuple(int(h) for h in halo)
        if len(self.block_shape) != 3 or min(self.block_shape) < 1:
            raise ValueError(f"--block_shape {list(block_shape)} must be three positive sizes (Z, Y, X).")
        if len(self.halo) != 3 or min(self.halo) < 0:
            raise ValueError(f"--halo {halo} must be one or three sizes of at least 0 voxels (Z, Y, X).")
        check_block_shape(self.block_shape, self.halo)
        self.segmenter = segmenter
        self.work_dir = Path(work_dir)
        self.sampling = None if sampling is None else tuple(float(s) for s in sampling)
        self.unit = None if unit is None else float(unit)
        self.runner = runner
        self.progress = progress
        self.resume = bool(resume)
        self.fingerprint = dict(fingerprint or {})

    def run(self, source: ProbabilitySource, write: Callable[[Region, np.ndarray], None]) -> int:
        """Segment ``source`` and hand every block's final labels ``(*block)`` to ``write(region, labels)``; returns
        the number of objects."""
        if len(source.shape) != 4 or source.shape[0] != 1:
            raise ValueError(
                f"Instance segmentation ('{self.segmenter.mode.value}') needs a one-channel probability map "
                f"(1, Z, Y, X); got {tuple(source.shape)}."
            )
        blocks = _Blocks(tuple(int(s) for s in source.shape[1:]), self.block_shape, self.halo)
        record = {
            "shape": list(blocks.spatial_shape),
            "blocks": list(blocks.block_shape),
            "halo": list(blocks.halo),
            "segmenter": [self.segmenter.mode.value, self.segmenter.threshold, self.segmenter.min_size],
            "min_distance": self.segmenter.min_distance,
            "merge_weak": self.segmenter.merge_weak,
            "sampling": self.sampling,
            "unit": self.unit,
            "fingerprint": self.fingerprint,
        }
        record = json.loads(json.dumps(record, default=str))
        plan = self.work_dir / "plan.json"
        kept = self.resume and plan.is_file() and json.loads(plan.read_text()) == record
        if not kept:
            if self.work_dir.exists():
                shutil.rmtree(self.work_dir)
            self.work_dir.mkdir(parents=True)
            with atomic_write(plan, "w") as handle:
                handle.write(json.dumps(record))
        runner = self.runner or SequentialTasks()
        keys = list(blocks.keys())
        done = {key: _count(self.work_dir, key) for key in keys if kept and _finished(self.work_dir, blocks, key)}
        logger.info(
            "Segmenting %s block-wise ('%s') in %d blocks of %s with a halo of %s.",
            blocks.spatial_shape,
            self.segmenter.mode.value,
            len(keys),
            blocks.block_shape,
            blocks.halo,
        )
        shared = runner.share(source)
        work = str(self.work_dir)
        if done:
            logger.info("Resuming: %d of %d blocks were segmented by an earlier run.", len(done), len(keys))
        todo = [key for key in keys if key not in done]
        for key in todo:
            runner.submit(segment_block, blocks, key, shared, self.segmenter, self.sampling, self.unit, work)
        counts = {**done, **dict(self._results(runner, len(todo), "segmenting"))}
        offsets, total = {}, 0
        for key in keys:
            offsets[key] = total
            total += counts[key]
        joined = self._join(blocks, keys, offsets, total)
        for key in keys:
            lookup = joined[offsets[key] : offsets[key] + counts[key] + 1].copy()
            lookup[0] = 0
            runner.submit(relabel_block, blocks, key, lookup, work)
        for key, labels in self._results(runner, len(keys), "writing"):
            write(blocks.region(key), labels)
        shutil.rmtree(self.work_dir, ignore_errors=True)
        return int(joined.max()) if joined.size else 0

    def _results(self, runner: TaskRunner, count: int, what: str) -> Iterator[Any]:
        with watched(runner, count, what, self.progress) as tick:
            for future in runner.completed():
                yield future.result()
                tick()

    def _join(self, blocks: _Blocks, keys: list[Key], offsets: dict[Key, int], total: int) -> np.ndarray:
        """Final ids of every global id ``offset + local`` (index 0 and each block's 0 stay background)."""
        union = _UnionFind(total + 1)
        work = str(self.work_dir)
        grid = blocks.grid
        for key in keys:
            for axis in range(3):
                if key[axis] + 1 >= grid[axis]:
                    continue
                neighbour = tuple(k + (1 if a == axis else 0) for a, k in enumerate(key))
                face = np.load(_face_file(work, key, axis))
                first = np.load(_label_file(work, neighbour), mmap_mode="r")
                layer = np.asarray(first[(slice(None),) * axis + (slice(0, 1),)]).squeeze(axis)
                for a, b in _matches(face, layer):
                    union.union(offsets[key] + a, offsets[neighbour] + b)
        roots = np.array([union.find(i) for i in range(total + 1)], dtype=np.int64)
        # consecutive ids in the order objects first appear; 0 stays 0
        _, final = np.unique(roots, return_inverse=True)
        return final.astype(np.uint32)
