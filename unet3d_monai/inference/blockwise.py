"""Out-of-core sliding-window prediction: the global window grid predicted block by block, accumulated on disk."""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import h5py
import numpy as np
import torch
from monai.utils import optional_import

from unet3d_monai.inference.window_grid import Region, WindowGrid

tqdm, _ = optional_import("tqdm", name="tqdm")

__all__ = ["VolumeSource", "BlockwiseInference", "default_block_shape"]

logger = logging.getLogger(__name__)

_ACCUMULATOR = "accumulated"
_DONE = "done"
_JOURNAL = "journal"


class VolumeSource(Protocol):
    """A channel-first volume ``(C, Z, Y, X)`` that can be read region by region (already normalised)."""

    shape: tuple[int, ...]

    def read(self, region: Region) -> np.ndarray:
        """float32 array ``(C, *region)`` for a spatial region inside the volume."""
        ...


def default_block_shape(
    image_size: Sequence[int], roi_size: Sequence[int], channels: int, memory_bytes: int = 256 * 2**20
) -> tuple[int, ...]:
    """Largest block (halving the longest axis, never below the roi) whose buffers fit ``memory_bytes``.

    ``channels`` is the number of float32 values held per voxel of a block plus its halo (input, output
    and the accumulator read back from disk).

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
    return tuple(block)


class BlockwiseInference:
    """Sliding-window prediction of a volume larger than memory, with the same result as the in-memory one.

    The volume's global window grid (:class:`WindowGrid`, identical to MONAI's ``sliding_window_inference``)
    is partitioned among blocks: each window belongs to the block holding its first voxel. For each block the
    input under its windows (the block plus a halo of at most one roi) is read, the windows are predicted in
    batches of ``sw_batch_size``, weighted by the Gaussian importance map and added to an accumulator dataset
    ``(C_out, Z, Y, X)`` in a chunked HDF5 file on disk. When every block is done, each block of the
    accumulator is divided by the summed importance maps (computed, not stored) and handed to ``write_block``.
    Memory is bounded by one block plus halo, whatever the volume size.

    The accumulator file records which blocks are done, so an interrupted run resumes where it stopped
    (``resume=True``). Before a block's contribution is added, the accumulator region it touches is copied
    to a journal in the same file; a run interrupted during that update restores the copy before redoing
    the block, so no block is counted twice. A fingerprint (grid, blocks, network, options) guards against
    resuming with different settings.

    Args:
        predictor: callable mapping windows ``(B, C_in, *roi)`` to probabilities ``(B, C_out, *roi)``.
        grid: the global window grid of the volume.
        accumulator_path: HDF5 file for the accumulator and progress record (removed by :meth:`cleanup`).
        block_shape: spatial block size; ``None`` picks one that fits ``block_memory_bytes``.
        sw_batch_size: windows per forward pass.
        device: device the windows are sent to.
        fingerprint: description of everything that determines the result; a resumed run must match it.
        resume: continue from the blocks recorded in ``accumulator_path`` (otherwise start afresh).
        progress: show a progress bar over windows.
        block_memory_bytes: memory budget of one block with its halo when ``block_shape`` is ``None``.

    Example:
        >>> grid = WindowGrid((40, 64, 64), (16, 32, 32), overlap=0.25)
        >>> engine = BlockwiseInference(predictor, grid, "acc.h5.part", block_shape=(20, 32, 32))  # doctest: +SKIP
        >>> engine.run(source, lambda region, block: out.__setitem__((slice(None), *region), block))  # doctest: +SKIP
    """

    def __init__(
        self,
        predictor: Callable[[torch.Tensor], torch.Tensor],
        grid: WindowGrid,
        accumulator_path: str | Path,
        block_shape: Sequence[int] | None = None,
        sw_batch_size: int = 1,
        device: torch.device | str = "cpu",
        fingerprint: dict | None = None,
        resume: bool = False,
        progress: bool = False,
        block_memory_bytes: int = 256 * 2**20,
    ) -> None:
        self.predictor = predictor
        self.grid = grid
        self.accumulator_path = Path(accumulator_path)
        self.block_memory_bytes = block_memory_bytes
        self.block_shape = None if block_shape is None else tuple(int(b) for b in block_shape)
        if self.block_shape is not None and (
            len(self.block_shape) != len(grid.image_size) or min(self.block_shape) < 1
        ):
            raise ValueError(f"block_shape {block_shape} must hold {len(grid.image_size)} positive sizes.")
        if sw_batch_size < 1:
            raise ValueError(f"sw_batch_size must be at least 1; got {sw_batch_size}.")
        self.sw_batch_size = sw_batch_size
        self.device = torch.device(device)
        self.fingerprint = dict(fingerprint or {})
        self.resume = resume
        self.progress = progress

    def _blocks(self, block_shape: Sequence[int]) -> list[Region]:
        ranges = [range(0, s, b) for s, b in zip(self.grid.image_size, block_shape)]
        return [
            tuple(slice(start, min(start + b, s)) for start, b, s in zip(starts, block_shape, self.grid.image_size))
            for starts in itertools.product(*ranges)
        ]

    def _assign_windows(self, block_shape: Sequence[int]) -> dict[tuple[int, ...], list[int]]:
        assignment: dict[tuple[int, ...], list[int]] = {}
        for index, window in enumerate(self.grid.windows):
            key = tuple(max(w.start, 0) // b for w, b in zip(window, block_shape))
            assignment.setdefault(key, []).append(index)
        return assignment

    def _open(self, out_channels: int, n_blocks: int, block_shape: Sequence[int]) -> h5py.File:
        fingerprint = json.dumps({**self.fingerprint, "block_shape": list(block_shape)}, sort_keys=True)
        if self.accumulator_path.exists():
            if self.resume:
                handle = h5py.File(self.accumulator_path, "r+")
                recorded = handle.attrs.get("fingerprint")
                if recorded != fingerprint or handle[_ACCUMULATOR].shape[0] != out_channels:
                    handle.close()
                    raise ValueError(
                        f"Cannot resume from {self.accumulator_path}: it was written with different settings "
                        f"({recorded}); delete it or run with resume=False."
                    )
                self._recover(handle)
                logger.info(
                    "Resuming from %s: %d of %d blocks done.",
                    self.accumulator_path,
                    int(handle[_DONE][()].sum()),
                    n_blocks,
                )
                return handle
            self.accumulator_path.unlink()
        handle = h5py.File(self.accumulator_path, "w")
        handle.attrs["fingerprint"] = fingerprint
        shape = (out_channels, *self.grid.image_size)
        chunks = (1, *(min(64, s) for s in self.grid.image_size))
        handle.create_dataset(_ACCUMULATOR, shape=shape, dtype="float32", chunks=chunks, fillvalue=0.0)
        handle.create_dataset(_DONE, shape=(n_blocks,), dtype=bool, fillvalue=False)
        journal_shape = (
            out_channels,
            *(min(b + r, s) for b, r, s in zip(block_shape, self.grid.roi_size, self.grid.image_size)),
        )
        journal = handle.create_dataset(_JOURNAL, shape=journal_shape, dtype="float32", chunks=True)
        journal.attrs["block"] = -1
        journal.attrs["region"] = np.zeros((len(shape) - 1, 2), dtype=np.int64)
        handle.flush()
        return handle

    @staticmethod
    def _recover(handle: h5py.File) -> None:
        """Undo a block update that was interrupted after its journal entry was written."""
        journal = handle[_JOURNAL]
        block = int(journal.attrs["block"])
        if block < 0:
            return
        if not handle[_DONE][block]:
            bounds = journal.attrs["region"]
            region = tuple(slice(int(a), int(b)) for a, b in bounds)
            local = tuple(slice(0, int(b) - int(a)) for a, b in bounds)
            handle[_ACCUMULATOR][(slice(None), *region)] = journal[(slice(None), *local)]
        journal.attrs["block"] = -1
        handle.flush()

    def _window(self, data: torch.Tensor, window: Region, region: Region) -> torch.Tensor:
        """The input under ``window`` from ``data`` (the input over ``region``); zeros outside the volume."""
        in_window, in_region = self.grid.clip(window, region)
        if all(w.stop - w.start == r for w, r in zip(in_window, self.grid.roi_size)):
            return data[(slice(None), *in_region)]
        patch = torch.zeros((data.shape[0], *self.grid.roi_size), dtype=data.dtype)
        patch[(slice(None), *in_window)] = data[(slice(None), *in_region)]
        return patch

    def _predict_windows(self, source: VolumeSource, indices: Sequence[int], bar) -> tuple[Region, np.ndarray]:
        grid = self.grid
        region = grid.bounding_region(indices)
        data = torch.from_numpy(source.read(region))
        local: torch.Tensor | None = None
        for first in range(0, len(indices), self.sw_batch_size):
            batch = indices[first : first + self.sw_batch_size]
            windows = torch.stack([self._window(data, grid.windows[i], region) for i in batch]).to(self.device)
            probabilities = (self.predictor(windows).float() * grid.importance_map.to(self.device)).cpu()
            if local is None:
                local = torch.zeros((probabilities.shape[1], *(r.stop - r.start for r in region)), dtype=torch.float32)
            for i, window_probabilities in zip(batch, probabilities):
                clipped = grid.clip(grid.windows[i], region)
                if clipped is not None:
                    in_window, in_region = clipped
                    local[(slice(None), *in_region)] += window_probabilities[(slice(None), *in_window)]
            if bar is not None:
                bar.update(len(batch))
        return region, local.numpy()

    def run(self, source: VolumeSource, write_block: Callable[[Region, np.ndarray], None]) -> None:
        """Predict ``source`` and pass each normalised output block ``(C_out, *block)`` to ``write_block``."""
        grid = self.grid
        if tuple(source.shape[1:]) != grid.image_size:
            raise ValueError(f"Volume of spatial size {tuple(source.shape[1:])} does not match grid {grid.image_size}.")
        block_shape = self.block_shape or default_block_shape(
            grid.image_size, grid.roi_size, 2 * (source.shape[0] + 1), self.block_memory_bytes
        )
        blocks = self._blocks(block_shape)
        assignment = self._assign_windows(block_shape)
        block_windows = [
            assignment.get(tuple(r.start // b for r, b in zip(block, block_shape)), []) for block in blocks
        ]
        handle: h5py.File | None = None
        if self.resume and self.accumulator_path.exists():
            with h5py.File(self.accumulator_path, "r") as existing:
                out_channels = existing[_ACCUMULATOR].shape[0] if _ACCUMULATOR in existing else None
            if out_channels is not None:
                handle = self._open(out_channels, len(blocks), block_shape)
            else:
                self.accumulator_path.unlink()
        elif self.accumulator_path.exists():
            self.accumulator_path.unlink()
        try:
            done = handle[_DONE][()] if handle is not None else np.zeros(len(blocks), dtype=bool)
            remaining = sum(len(w) for w, d in zip(block_windows, done) if not d)
            bar = tqdm(total=remaining, desc="windows", unit="window") if self.progress else None
            for index, (indices, is_done) in enumerate(zip(block_windows, done)):
                if is_done:
                    continue
                if not indices:
                    if handle is not None:
                        handle[_DONE][index] = True
                    continue
                region, contribution = self._predict_windows(source, indices, bar)
                if handle is None:
                    handle = self._open(contribution.shape[0], len(blocks), block_shape)
                self._add(handle, index, region, contribution)
            if bar is not None:
                bar.close()
            if handle is None:
                raise ValueError(f"The window grid of a volume of size {grid.image_size} holds no window.")
            accumulated = handle[_ACCUMULATOR]
            for block in blocks:
                weights = grid.weight_sum(block)
                write_block(block, accumulated[(slice(None), *block)] / weights[None])
        finally:
            if handle is not None:
                handle.close()

    @staticmethod
    def _add(handle: h5py.File, index: int, region: Region, contribution: np.ndarray) -> None:
        accumulated, journal = handle[_ACCUMULATOR], handle[_JOURNAL]
        target = (slice(None), *region)
        previous = accumulated[target]
        journal[(slice(None), *(slice(0, r.stop - r.start) for r in region))] = previous
        journal.attrs["region"] = np.array([[r.start, r.stop] for r in region], dtype=np.int64)
        journal.attrs["block"] = index
        handle.flush()
        accumulated[target] = previous + contribution
        handle.flush()
        handle[_DONE][index] = True
        journal.attrs["block"] = -1
        handle.flush()

    def cleanup(self) -> None:
        """Remove the accumulator file (call once the output has been written)."""
        if self.accumulator_path.exists():
            self.accumulator_path.unlink()
