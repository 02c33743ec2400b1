"""Lazy patch datasets over HDF5 volumes: each item reads only its own region from disk."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from monai.data.utils import set_rnd
from monai.transforms import Randomizable
from monai.utils import MAX_SEED, StrEnum, look_up_option

from unet3d_monai.data.patches import (
    FILTER_BYTES_PER_VOXEL,
    check_patch_size,
    filter_block_shape,
    foreground_counts,
    grid_origins,
    num_voxels,
    select_patches,
)
from unet3d_monai.data.stats import DEFAULT_BLOCK_BYTES, DEFAULT_PERCENTILES, compute_volume_stats
from unet3d_monai.io.files import find_h5_files, get_h5_dataset, open_h5, read_h5
from unet3d_monai.io.reader import volume_layout

__all__ = ["HDF5PatchDataset", "PadMode", "RandomHDF5PatchDataset", "SmallVolumeWarning"]


class SmallVolumeWarning(UserWarning):
    """A volume is smaller than the patch along some axis and its patches are padded."""


class PadMode(StrEnum):
    """How patches of volumes smaller than the patch are padded (at the end of each short axis)."""

    REFLECT = "reflect"
    CONSTANT = "constant"


class _ZMode(StrEnum):
    SAME = "same"  # patch rank equals the stored spatial rank
    DROP_Z = "drop_z"  # 2D patches (py, px) over data stored (1, Y, X) / (C, 1, Y, X)
    ADD_Z = "add_z"  # patches (1, py, px) over data stored (Y, X)


@dataclass
class _Volume:
    """What a dataset knows about one file, gathered once at creation (no open handle)."""

    path: Path
    spatial_shape: tuple[int, ...]  # as seen by the patches (after dropping/adding z)
    z_mode: _ZMode
    channels: dict[str, int | None]  # stored channel count per dataset key, None when no channel axis
    stats: dict[str, float | int] | None
    origins: list[tuple[int, ...]] = field(default_factory=list)


def _check_foreground_filter(threshold: float | None, slack_acceptance: float, label_key: str | None) -> None:
    """Validate the options of the label-foreground patch filter shared by both patch datasets."""
    if threshold is not None:
        if label_key is None:
            raise ValueError("threshold filters patches by label foreground and needs a label_key.")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}.")
    if not 0.0 <= slack_acceptance <= 1.0:
        raise ValueError(f"slack_acceptance must be in [0, 1], got {slack_acceptance}.")


class _HDF5Volumes(torch.utils.data.Dataset):
    """Shared machinery: file checks, statistics, per-process handles, region reading and the options of the
    label-foreground patch filter (``threshold``, ``slack_acceptance``, ``ignore_index``)."""

    def __init__(
        self,
        files: str | PathLike | Sequence[str | PathLike],
        patch_size: Sequence[int],
        raw_key: str,
        label_key: str | None,
        weight_key: str | None,
        transform: Callable[[dict], Any] | None,
        threshold: float | None,
        slack_acceptance: float,
        ignore_index: int | None,
        pad_mode: PadMode | str,
        label_dtype: np.dtype | type,
        compute_stats: bool,
        stats_percentiles: Sequence[float],
        max_block_bytes: int,
    ) -> None:
        self.patch_size = check_patch_size(patch_size, "patch_size")
        if len(self.patch_size) not in (2, 3):
            raise ValueError(f"patch_size {self.patch_size} must have 2 or 3 dimensions.")
        _check_foreground_filter(threshold, slack_acceptance, label_key)
        self.threshold = threshold
        self.slack_acceptance = float(slack_acceptance)
        self.ignore_index = ignore_index
        self.raw_key = raw_key
        self.label_key = label_key
        self.weight_key = weight_key
        self.transform = transform
        self.pad_mode = PadMode(look_up_option(pad_mode, PadMode))
        self.label_dtype = np.dtype(label_dtype)
        self.stats_percentiles = tuple(stats_percentiles)
        self.max_block_bytes = int(max_block_bytes)
        self.files = find_h5_files(files)
        self.volumes = [self._inspect(path, compute_stats) for path in self.files]
        self._handles: dict[Path, h5py.File] = {}
        self._pid = os.getpid()

    @property
    def dataset_keys(self) -> dict[str, str]:
        """Sample key -> HDF5 dataset key for the datasets read per patch."""
        keys = {"image": self.raw_key}
        if self.label_key is not None:
            keys["label"] = self.label_key
        if self.weight_key is not None:
            keys["weight"] = self.weight_key
        return keys

    def _inspect(self, path: Path, compute_stats: bool) -> _Volume:
        with open_h5(path) as f:
            shapes = {}
            for name, key in self.dataset_keys.items():
                ds = get_h5_dataset(f, key)
                if ds.dtype.kind not in "biuf":
                    raise ValueError(f"HDF5 file '{path}' dataset '{key}' has non-numeric dtype {ds.dtype}.")
                shapes[name] = (key, ds.shape, volume_layout(ds.shape, path, key))
        _, raw_shape, raw_layout = shapes["image"]
        for name in ("label", "weight"):
            if name in shapes:
                key, shape, layout = shapes[name]
                if layout.spatial_shape != raw_layout.spatial_shape:
                    raise ValueError(
                        f"HDF5 file '{path}': '{self.raw_key}' has shape {tuple(raw_shape)} but '{key}' has shape "
                        f"{tuple(shape)}; their spatial shapes {raw_layout.spatial_shape} and "
                        f"{layout.spatial_shape} must match."
                    )
        stored = raw_layout.spatial_shape
        n = len(self.patch_size)
        if n == len(stored):
            z_mode, spatial = _ZMode.SAME, stored
        elif n == 2 and len(stored) == 3 and stored[0] == 1:
            z_mode, spatial = _ZMode.DROP_Z, stored[1:]
        elif n == 3 and len(stored) == 2 and self.patch_size[0] == 1:
            z_mode, spatial = _ZMode.ADD_Z, (1, *stored)
        else:
            raise ValueError(
                f"patch_size {self.patch_size} has {n} dimensions but HDF5 file '{path}' dataset '{self.raw_key}' "
                f"has spatial shape {stored}; expected a patch of {len(stored)} dimensions"
                + (" (or 2 for data stored (1, Y, X))." if len(stored) == 3 and stored[0] == 1 else ".")
            )
        short = [i for i, (s, p) in enumerate(zip(spatial, self.patch_size)) if s < p]
        if short:
            warnings.warn(
                f"HDF5 file '{path}' has spatial shape {spatial}, smaller than patch_size {self.patch_size} along "
                f"axes {short}; its patches are padded ({self.pad_mode.value} mode).",
                SmallVolumeWarning,
                stacklevel=3,
            )
        stats = None
        if compute_stats:
            stats = compute_volume_stats(path, self.raw_key, self.stats_percentiles, self.max_block_bytes).to_dict()
        channels = {name: layout.channels for name, (_, _, layout) in shapes.items()}
        return _Volume(path=path, spatial_shape=tuple(spatial), z_mode=z_mode, channels=channels, stats=stats)

    # ---- per-process file handles -------------------------------------------------------------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    def _file(self, path: Path) -> h5py.File:
        if self._pid != os.getpid():  # forked into a worker: never share the parent's handles
            self._handles = {}
            self._pid = os.getpid()
        handle = self._handles.get(path)
        if handle is None:
            handle = open_h5(path)
            self._handles[path] = handle
        return handle

    def close(self) -> None:
        """Close the HDF5 files this process opened (they reopen on the next read)."""
        if self._pid == os.getpid():
            for handle in self._handles.values():
                handle.close()
        self._handles = {}

    # ---- reading ------------------------------------------------------------------------------------
    def _stored_index(self, vol: _Volume, name: str, view: Sequence[slice]) -> tuple:
        if vol.z_mode == _ZMode.DROP_Z:
            index: tuple = (0, *view)
        elif vol.z_mode == _ZMode.ADD_Z:
            index = tuple(view[1:])
        else:
            index = tuple(view)
        if vol.channels[name] is not None:
            index = (slice(None), *index)
        return index

    def _read(self, vol: _Volume, name: str, view: Sequence[slice]) -> np.ndarray:
        """The region ``view`` (in patch coordinates) of dataset ``name``, as ``(C, *region)``."""
        ds = self._file(vol.path)[self.dataset_keys[name]]
        array = read_h5(ds, self._stored_index(vol, name, view))
        if vol.channels[name] is None:
            array = array[None]
        if vol.z_mode == _ZMode.ADD_Z:
            array = array[:, None]
        return array

    def read_patch(self, vol: _Volume, name: str, origin: Sequence[int]) -> np.ndarray:
        """Patch of dataset ``name`` at ``origin``: ``(C, *patch_size)``, padded when the volume is smaller."""
        view = [slice(o, min(o + p, s)) for o, p, s in zip(origin, self.patch_size, vol.spatial_shape)]
        array = self._read(vol, name, view)
        pad = [(0, p - (v.stop - v.start)) for p, v in zip(self.patch_size, view)]
        if any(after for _, after in pad):
            array = np.pad(array, [(0, 0), *pad], mode=self.pad_mode.value)
        return array

    def make_item(
        self, vol_index: int, origin: Sequence[int], index: int, label: np.ndarray | None = None
    ) -> dict[str, Any]:
        """Read the patch at ``origin`` of volume ``vol_index`` (``label`` if already read) and transform it."""
        vol = self.volumes[vol_index]
        item: dict[str, Any] = {"image": self.read_patch(vol, "image", origin).astype(np.float32, copy=False)}
        if self.label_key is not None:
            if label is None:
                label = self.read_patch(vol, "label", origin)
            item["label"] = label.astype(self.label_dtype, copy=False)
        if self.weight_key is not None:
            item["weight"] = self.read_patch(vol, "weight", origin).astype(np.float32, copy=False)
        if vol.stats is not None:
            item["image_stats"] = dict(vol.stats)
        item["filename"] = str(vol.path)
        item["file_index"] = vol_index
        item["patch_index"] = index
        item["patch_origin"] = np.asarray(origin, dtype=np.int64)
        if self.transform is not None:
            item = self.transform(item)
        return item


class HDF5PatchDataset(_HDF5Volumes):
    """Sliding-window patches over HDF5 volumes, read lazily (one region per item), for training and validation.

    Patches are enumerated per file like pytorch-3dunet's ``SliceBuilder`` (last window flush with the end of
    each axis, so every voxel is covered), optionally filtered by label foreground like its
    ``FilterSliceBuilder`` (the label is read once, in chunk-aligned blocks, never whole). Intensity statistics
    of each raw volume are computed once at creation (chunk-wise, cached, see
    :func:`~unet3d_monai.data.compute_volume_stats`) and attached to every item for
    :class:`~unet3d_monai.data.Normalized`.

    Each item is a dict (before ``transform``)::

        "image":        float32 (C, *patch)      raw; a 3D dataset gets a channel axis of 1
        "label":        label_dtype (C_label, *patch)   when label_key is set (3D label -> C_label = 1)
        "weight":       float32 (C_weight, *patch)      when weight_key is set
        "image_stats":  dict of numbers (VolumeStats.to_dict()) of the whole raw volume
        "filename":     str, "file_index": int, "patch_index": int (index in this dataset),
        "patch_origin": int64 array, the patch's first voxel in patch coordinates

    ``patch`` is ``patch_size``: 3D ``(pz, py, px)`` for ``(Z, Y, X)``/``(C, Z, Y, X)`` data; for 2D data stored
    ``(1, Y, X)`` either ``(py, px)`` (items are 2D, ``(C, py, px)``) or ``(1, py, px)`` (items keep the
    singleton z); plain ``(Y, X)`` data takes ``(py, px)`` or ``(1, py, px)`` likewise. A volume smaller than
    the patch along an axis gives patches padded at the end of that axis (``pad_mode``, ``"reflect"`` by
    default, ``"constant"`` pads with zeros) and a :class:`SmallVolumeWarning` naming the file.

    HDF5 files are opened lazily, once per process, on the first read; the dataset pickles without handles,
    so ``monai.data.DataLoader(num_workers > 0)`` works.

    Args:
        files: file, folder, glob or a list of these (see :func:`~unet3d_monai.data.find_h5_files`).
        patch_size: patch shape (2 or 3 positive integers).
        stride: window step per axis; defaults to ``patch_size`` (no overlap).
        raw_key: internal path of the raw data.
        label_key: internal path of the labels, or None for unlabelled data.
        weight_key: internal path of per-voxel loss weights, or None.
        transform: callable applied to each item dict (e.g. a MONAI ``Compose`` of dictionary transforms).
        threshold: keep patches whose label foreground fraction exceeds this (None: keep all patches).
        slack_acceptance: probability of keeping a patch that fails ``threshold``.
        ignore_index: label value not counted as foreground by the filter.
        filter_seed: seed of the per-volume ``RandomState`` drawing slack acceptances (47, as the seed).
        pad_mode: ``"reflect"`` or ``"constant"``.
        label_dtype: dtype of the label in items (float32; integer ids above 2**24 need e.g. ``np.int64``).
        compute_stats: compute and attach ``"image_stats"``.
        stats_percentiles: percentile ranks of ``p_low``/``p_high`` in the statistics.
        max_block_bytes: memory budget of one block read by the statistics and the filter.

    Example::

        train = HDF5PatchDataset(
            "data/train", patch_size=(80, 170, 170), stride=(20, 40, 40), threshold=0.6, slack_acceptance=0.01,
            transform=Compose([RandFlipd(["image", "label"], prob=0.5), Normalized("image")]),
        )
        loader = monai.data.DataLoader(train, batch_size=1, shuffle=True, num_workers=2)
    """

    def __init__(
        self,
        files: str | PathLike | Sequence[str | PathLike],
        patch_size: Sequence[int],
        stride: Sequence[int] | None = None,
        raw_key: str = "raw",
        label_key: str | None = "label",
        weight_key: str | None = None,
        transform: Callable[[dict], Any] | None = None,
        threshold: float | None = None,
        slack_acceptance: float = 0.01,
        ignore_index: int | None = None,
        filter_seed: int = 47,
        pad_mode: PadMode | str = PadMode.REFLECT,
        label_dtype: np.dtype | type = np.float32,
        compute_stats: bool = True,
        stats_percentiles: Sequence[float] = DEFAULT_PERCENTILES,
        max_block_bytes: int = DEFAULT_BLOCK_BYTES,
    ) -> None:
        patch_size = check_patch_size(patch_size, "patch_size")
        self.stride = patch_size if stride is None else check_patch_size(stride, "stride", ndim=len(patch_size))
        self.filter_seed = int(filter_seed)
        super().__init__(
            files,
            patch_size,
            raw_key,
            label_key,
            weight_key,
            transform,
            threshold,
            slack_acceptance,
            ignore_index,
            pad_mode,
            label_dtype,
            compute_stats,
            stats_percentiles,
            max_block_bytes,
        )
        self.index: list[tuple[int, tuple[int, ...]]] = []
        for v, vol in enumerate(self.volumes):
            starts, origins = grid_origins(vol.spatial_shape, self.patch_size, self.stride)
            if threshold is not None:
                keep = self._filter(vol, starts)
                origins = [origins[i] for i in keep]
            vol.origins = origins
            self.index.extend((v, o) for o in origins)
        self.close()  # the filter pass opened files in this process; workers open their own

    def _filter(self, vol: _Volume, starts: list[list[int]]) -> list[int]:
        ds = self._file(vol.path)[self.label_key]
        channels = vol.channels["label"] or 1
        chunks = None
        if ds.chunks is not None:
            spatial_chunks = ds.chunks[1:] if vol.channels["label"] is not None else ds.chunks
            if vol.z_mode == _ZMode.DROP_Z:
                chunks = spatial_chunks[1:]
            elif vol.z_mode == _ZMode.ADD_Z:
                chunks = (1, *spatial_chunks)
            else:
                chunks = spatial_chunks
        block_shape = filter_block_shape(
            vol.spatial_shape, chunks, channels * (ds.dtype.itemsize + FILTER_BYTES_PER_VOXEL), self.max_block_bytes
        )
        counts = foreground_counts(
            lambda region: self._read(vol, "label", region),
            vol.spatial_shape,
            starts,
            self.patch_size,
            self.ignore_index,
            block_shape,
        )
        denominator = num_voxels(self.patch_size) * channels
        return select_patches(counts, denominator, self.threshold, self.slack_acceptance, self.filter_seed)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"patch index {index} out of range for a dataset of {len(self)} patches.")
        index = index % len(self)
        vol_index, origin = self.index[index]
        return self.make_item(vol_index, origin, index)


class RandomHDF5PatchDataset(_HDF5Volumes, Randomizable):
    """Randomly placed patches from HDF5 volumes for training, read lazily; ``num_samples`` items per epoch.

    Each item draws a file (with probability proportional to its number of possible patch positions) and a
    patch origin uniformly among all positions, from this dataset's ``RandomState``. With ``threshold`` set, a
    patch whose label foreground fraction (labels neither 0 nor ``ignore_index``) is not above ``threshold``
    is redrawn unless accepted with probability ``slack_acceptance``; after ``max_tries`` draws the last one
    is used. Items are the same dicts as :class:`HDF5PatchDataset`'s (``"patch_index"`` is the item index).

    Randomness: the dataset is a MONAI ``Randomizable``; ``monai.data.DataLoader`` seeds it (and, through it,
    the random transforms in ``transform``) per worker, so ``monai.utils.set_determinism(seed)`` makes a run
    repeatable for a given ``num_workers``. ``set_random_state`` seeds it directly.

    Args:
        files, patch_size, raw_key, label_key, weight_key, transform, pad_mode, label_dtype, compute_stats,
        stats_percentiles, max_block_bytes: as :class:`HDF5PatchDataset`.
        num_samples: items per epoch (the dataset's length).
        threshold: minimum label foreground fraction (None: no rejection).
        slack_acceptance: probability of accepting a patch below ``threshold``.
        ignore_index: label value not counted as foreground.
        max_tries: draws per item before accepting a patch below ``threshold``.
        seed: initial seed of the dataset's ``RandomState``.

    Example::

        train = RandomHDF5PatchDataset("data/train", patch_size=(80, 170, 170), num_samples=200,
                                       threshold=0.1, transform=train_transforms)
    """

    def __init__(
        self,
        files: str | PathLike | Sequence[str | PathLike],
        patch_size: Sequence[int],
        num_samples: int,
        raw_key: str = "raw",
        label_key: str | None = "label",
        weight_key: str | None = None,
        transform: Callable[[dict], Any] | None = None,
        threshold: float | None = None,
        slack_acceptance: float = 0.01,
        ignore_index: int | None = None,
        max_tries: int = 10,
        pad_mode: PadMode | str = PadMode.REFLECT,
        label_dtype: np.dtype | type = np.float32,
        compute_stats: bool = True,
        stats_percentiles: Sequence[float] = DEFAULT_PERCENTILES,
        max_block_bytes: int = DEFAULT_BLOCK_BYTES,
        seed: int = 0,
    ) -> None:
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}.")
        if max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, got {max_tries}.")
        self.num_samples = int(num_samples)
        self.max_tries = int(max_tries)
        super().__init__(
            files,
            patch_size,
            raw_key,
            label_key,
            weight_key,
            transform,
            threshold,
            slack_acceptance,
            ignore_index,
            pad_mode,
            label_dtype,
            compute_stats,
            stats_percentiles,
            max_block_bytes,
        )
        positions = np.array(
            [num_voxels(max(s - p, 0) + 1 for s, p in zip(vol.spatial_shape, self.patch_size)) for vol in self.volumes],
            dtype=np.float64,
        )
        self.file_probabilities = positions / positions.sum()
        self.set_random_state(seed=seed)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        """Seed the patch sampler, then the random transforms of ``transform`` from it."""
        super().set_random_state(seed=seed, state=state)
        if self.transform is not None:
            set_rnd(self.transform, int(self.R.randint(MAX_SEED)))
        return self

    def randomize(self, data: Any = None) -> tuple[int, tuple[int, ...]]:
        """Draw a file index and a patch origin."""
        v = int(self.R.choice(len(self.volumes), p=self.file_probabilities))
        vol = self.volumes[v]
        origin = tuple(int(self.R.randint(0, max(s - p, 0) + 1)) for s, p in zip(vol.spatial_shape, self.patch_size))
        return v, origin

    def _accept(self, label: np.ndarray) -> bool:
        fg = label != 0
        if self.ignore_index is not None:
            fg &= label != self.ignore_index
        return np.count_nonzero(fg) / label.size > self.threshold or self.R.rand() < self.slack_acceptance

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"patch index {index} out of range for a dataset of {self.num_samples} patches.")
        v, origin = self.randomize()
        label = None
        if self.threshold is not None:
            for attempt in range(self.max_tries):
                label = self.read_patch(self.volumes[v], "label", origin)
                if attempt == self.max_tries - 1 or self._accept(label):
                    break
                v, origin = self.randomize()
        return self.make_item(v, origin, index % self.num_samples, label)
