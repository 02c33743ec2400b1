"""Per-volume intensity statistics, computed block by block from HDF5 without loading the volume whole.

The same statistics drive intensity normalisation in training (:class:`~unet3d_monai.data.HDF5PatchDataset`
attaches them to every patch) and in prediction, so that a patch is normalised with the statistics of its
whole volume, as pytorch-3dunet's ``Standardize``/``PercentileNormalizer`` do.

Accuracy:
    - ``mean``, ``std`` (population, ``ddof=0``), ``min`` and ``max`` are exact up to float64 rounding
      (per-block float64 sums merged with Chan's parallel formula).
    - Percentiles come from a histogram. 8- and 16-bit integer (and boolean) data take a single pass with one
      bin per representable value, which gives every statistic exactly. Other integer data whose range spans
      at most 2**22 values get one bin per integer in a second pass; their percentiles equal
      ``numpy.percentile`` (linear method) exactly. Floating-point data get, in a second pass, 2**20 equal
      bins between min and max; values are interpolated inside a bin, so the error is at most
      ``(max - min) / 2**20``.
    - NaN and +-Inf voxels are excluded from every statistic, counted in ``nonfinite``, and reported once
      with a :class:`NonFiniteWarning` naming the file.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from threading import Lock
from typing import Any

import h5py
import numpy as np
import torch

from unet3d_monai.io.files import get_h5_dataset, open_h5, read_h5

__all__ = [
    "NonFiniteWarning",
    "VolumeStats",
    "clear_stats_cache",
    "compute_volume_stats",
    "count_dataset_nonfinite",
    "count_nonfinite",
    "iter_blocks",
]

DEFAULT_PERCENTILES: tuple[float, float] = (1.0, 99.6)
FLOAT_HISTOGRAM_BINS = 2**20
MAX_INTEGER_BINS = 2**22
DEFAULT_BLOCK_BYTES = 8 * 2**20


class NonFiniteWarning(RuntimeWarning):
    """A volume holds NaN or Inf values."""


@dataclass(frozen=True)
class VolumeStats:
    """Intensity statistics of one volume (all channels together), finite voxels only.

    Attributes:
        mean: mean intensity.
        std: population standard deviation (``ddof=0``, as ``numpy.std``).
        min: smallest value.
        max: largest value.
        p_low: the ``q_low``-th percentile (1.0 by default, as pytorch-3dunet's PercentileNormalizer).
        p_high: the ``q_high``-th percentile (99.6 by default).
        q_low: percentile rank of ``p_low``, in [0, 100].
        q_high: percentile rank of ``p_high``, in [0, 100].
        nonfinite: number of NaN/Inf voxels left out of the statistics.

    ``to_dict()`` gives a dict of plain numbers (what datasets attach to samples under ``"image_stats"``
    so that default collation works) and ``from_dict()`` reads it back.

    Example::

        >>> s = VolumeStats.from_array(np.arange(10.0))
        >>> s.mean, s.min, s.max
        (4.5, 0.0, 9.0)
    """

    mean: float
    std: float
    min: float
    max: float
    p_low: float
    p_high: float
    q_low: float = DEFAULT_PERCENTILES[0]
    q_high: float = DEFAULT_PERCENTILES[1]
    nonfinite: int = 0

    @classmethod
    def from_array(
        cls, array: np.ndarray | torch.Tensor, percentiles: Sequence[float] = DEFAULT_PERCENTILES
    ) -> VolumeStats:
        """Exact statistics of an in-memory array (numpy or torch, any shape), NaN/Inf excluded.

        Raises:
            ValueError: the array has no finite value, or ``percentiles`` is not two ranks in [0, 100].
        """
        q_low, q_high = _check_percentiles(percentiles)
        arr = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
        finite = np.isfinite(arr)
        nonfinite = int(arr.size - np.count_nonzero(finite))
        values = arr[finite] if nonfinite else arr.ravel()
        if values.size == 0:
            raise ValueError(f"Cannot compute statistics of an array of shape {tuple(arr.shape)}: no finite values.")
        values = values.astype(np.float64, copy=False)
        p_low, p_high = np.percentile(values, (q_low, q_high))
        return cls(
            mean=float(values.mean()),
            std=float(values.std()),
            min=float(values.min()),
            max=float(values.max()),
            p_low=float(p_low),
            p_high=float(p_high),
            q_low=q_low,
            q_high=q_high,
            nonfinite=nonfinite,
        )

    def to_dict(self) -> dict[str, float | int]:
        """The fields as a dict of plain Python numbers."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> VolumeStats:
        """Build from a mapping with at least mean, std, min, max, p_low and p_high.

        Values may be Python numbers, numpy scalars or one-element tensors/arrays (as after collating a
        batch of size one).

        Raises:
            KeyError: a required field is missing.
            ValueError: a value holds more than one number.
        """
        required = ("mean", "std", "min", "max", "p_low", "p_high")
        missing = [k for k in required if k not in values]
        if missing:
            raise KeyError(f"Volume statistics need fields {', '.join(required)}; missing: {', '.join(missing)}.")
        fields = {}
        for name in (*required, "q_low", "q_high", "nonfinite"):
            if name in values:
                fields[name] = _scalar(values[name], name)
        if "nonfinite" in fields:
            fields["nonfinite"] = int(fields["nonfinite"])
        return cls(**fields)


def _scalar(value: object, name: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"Volume statistic '{name}' holds {value.numel()} values; expected one "
                "(normalise each sample before collating a batch)."
            )
        return float(value.item())
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(
            f"Volume statistic '{name}' holds {arr.size} values; expected one "
            "(normalise each sample before collating a batch)."
        )
    return float(arr.reshape(()))


def _check_percentiles(percentiles: Sequence[float]) -> tuple[float, float]:
    values = tuple(float(q) for q in percentiles)
    if len(values) != 2 or not (0.0 <= values[0] <= values[1] <= 100.0):
        raise ValueError(f"percentiles must be two ranks 0 <= low <= high <= 100, got {tuple(percentiles)}.")
    return values[0], values[1]


def iter_blocks(
    shape: Sequence[int],
    chunks: Sequence[int] | None,
    itemsize: int,
    max_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Iterator[tuple[slice, ...]]:
    """Cover an array of ``shape`` with disjoint blocks aligned to the HDF5 chunk grid.

    Each block is a whole number of chunks (whole rows for a contiguous dataset) and holds at most
    ``max_bytes`` unless a single chunk is bigger. Blocks grow from the last axis, so they read
    contiguous chunk rows.

    Args:
        shape: array shape.
        chunks: the dataset's chunk shape, or None for contiguous storage.
        itemsize: bytes per element.
        max_bytes: memory budget of one block.

    Yields:
        tuples of slices, one per axis.
    """
    shape = tuple(int(s) for s in shape)
    if not shape:
        yield ()
        return
    unit = tuple(int(c) for c in chunks) if chunks is not None else (1,) * (len(shape) - 1) + (shape[-1],)
    block = list(unit)
    budget = max(1, max_bytes // max(1, itemsize))
    # grow from the last axis: take whole extents while they fit, then as many units as fit
    for axis in range(len(shape) - 1, -1, -1):
        others = math.prod(block[:axis] + block[axis + 1 :])
        fit = budget // max(1, others)
        if fit >= shape[axis]:
            block[axis] = shape[axis]
            continue
        block[axis] = max(unit[axis], (fit // unit[axis]) * unit[axis])
        break
    ranges = [range(0, s, b) for s, b in zip(shape, block)]
    for origin in np.ndindex(*(len(r) for r in ranges)):
        yield tuple(slice(r[i], min(r[i] + b, s)) for r, i, b, s in zip(ranges, origin, block, shape))


class _Moments:
    """Running count, mean, sum of squared deviations, min and max (Chan et al. parallel merge)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def update(self, values: np.ndarray) -> None:
        n_b = values.size
        if n_b == 0:
            return
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        d = np.array(values, dtype=np.float64).ravel()  # one float64 copy, then in-place
        mean_b = float(np.sum(d) / n_b)
        d -= mean_b
        m2_b = float(np.dot(d, d))
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n


def _rank_value(cum: np.ndarray, k: int, lo_edge: float, width: float, exact: bool) -> float:
    """Value of the k-th smallest element (0-based) from a cumulative histogram."""
    b = int(np.searchsorted(cum, k, side="right"))
    if exact:
        return lo_edge + b * width
    before = int(cum[b - 1]) if b > 0 else 0
    count = int(cum[b]) - before
    return lo_edge + (b + (k - before + 0.5) / count) * width


def _histogram_percentiles(
    counts: np.ndarray, n: int, lo_edge: float, width: float, exact: bool, qs: Sequence[float]
) -> list[float]:
    cum = np.cumsum(counts)
    out = []
    for q in qs:
        qf = q / 100.0
        h = (n - 1) * qf  # numpy's virtual index for the linear method, computed in the same order
        k = int(math.floor(h))
        v_lo = _rank_value(cum, k, lo_edge, width, exact)
        v_hi = _rank_value(cum, min(k + 1, n - 1), lo_edge, width, exact)
        t = h - k  # interpolate as numpy.percentile's linear method does, bit for bit
        out.append(v_hi - (v_hi - v_lo) * (1 - t) if t >= 0.5 else v_lo + (v_hi - v_lo) * t)
    return out


def _small_integer_stats(ds: h5py.Dataset, blocks: list[tuple[slice, ...]], q_low: float, q_high: float) -> VolumeStats:
    """One pass for (u)int8/(u)int16/bool data: a histogram with one bin per representable value gives every
    statistic exactly."""
    if ds.dtype.kind == "b":
        lo, hi = 0, 1
    else:
        info = np.iinfo(ds.dtype)
        lo, hi = int(info.min), int(info.max)
    nbins = hi - lo + 1
    counts = np.zeros(nbins, dtype=np.int64)
    for sl in blocks:
        block = read_h5(ds, sl).ravel()
        if ds.dtype.kind == "b":
            block = block.view(np.uint8)
        elif lo != 0:
            block = block.astype(np.int32) - lo
        counts += np.bincount(block, minlength=nbins)
    present = np.flatnonzero(counts)
    n = int(counts.sum())
    values = np.arange(lo, hi + 1, dtype=np.int64)[present]
    c = counts[present]
    mean = int(np.dot(c, values)) / n  # exact integer sum
    m2 = float(np.dot(c.astype(np.float64), (values - mean) ** 2))
    p_low, p_high = _histogram_percentiles(counts, n, float(lo), 1.0, True, (q_low, q_high))
    return VolumeStats(
        mean=mean,
        std=math.sqrt(m2 / n),
        min=float(values[0]),
        max=float(values[-1]),
        p_low=float(p_low),
        p_high=float(p_high),
        q_low=q_low,
        q_high=q_high,
    )


def _two_pass_stats(ds: h5py.Dataset, blocks: list[tuple[slice, ...]], q_low: float, q_high: float) -> VolumeStats:
    """Moments, min and max in a first pass, then a histogram over [min, max] for the percentiles."""
    path, key = ds.file.filename, ds.name.lstrip("/")
    is_float = ds.dtype.kind == "f"
    moments = _Moments()
    nonfinite = 0
    for sl in blocks:
        block = read_h5(ds, sl)
        if is_float:
            finite = np.isfinite(block)
            bad = block.size - int(np.count_nonzero(finite))
            if bad:
                nonfinite += bad
                block = block[finite]
        moments.update(block)
    if moments.n == 0:
        raise ValueError(f"HDF5 file '{path}' dataset '{key}' has no finite values.")

    vmin, vmax = moments.min, moments.max
    if vmin == vmax:
        p_low = p_high = vmin
    else:
        exact = not is_float and (vmax - vmin) < MAX_INTEGER_BINS
        if exact:
            nbins, width = int(vmax - vmin) + 1, 1.0
        else:
            nbins, width = FLOAT_HISTOGRAM_BINS, (vmax - vmin) / FLOAT_HISTOGRAM_BINS
        counts = np.zeros(nbins, dtype=np.int64)
        for sl in blocks:
            block = read_h5(ds, sl)
            if is_float and nonfinite:
                block = block[np.isfinite(block)]
            if exact:
                idx = np.array(block, dtype=np.int64).ravel()
                idx -= int(vmin)
            else:
                pos = np.array(block, dtype=np.float64).ravel()
                pos -= vmin
                pos /= width
                idx = pos.astype(np.int64)
                del pos
                np.clip(idx, 0, nbins - 1, out=idx)
            counts += np.bincount(idx, minlength=nbins)
        p_low, p_high = _histogram_percentiles(counts, moments.n, vmin, width, exact, (q_low, q_high))
        p_low, p_high = min(max(p_low, vmin), vmax), min(max(p_high, vmin), vmax)
    return VolumeStats(
        mean=moments.mean,
        std=math.sqrt(max(moments.m2, 0.0) / moments.n),
        min=vmin,
        max=vmax,
        p_low=float(p_low),
        p_high=float(p_high),
        q_low=q_low,
        q_high=q_high,
        nonfinite=nonfinite,
    )


_CACHE: dict[tuple, VolumeStats] = {}
_CACHE_LOCK = Lock()
_CACHE_MAX_ENTRIES = 4096


def clear_stats_cache() -> None:
    """Forget every cached :func:`compute_volume_stats` result."""
    with _CACHE_LOCK:
        _CACHE.clear()


def compute_volume_stats(
    path: str | PathLike,
    key: str,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    max_block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> VolumeStats:
    """Statistics of the HDF5 dataset ``key`` in ``path``, read block by block (never whole).

    One pass (8/16-bit integers: an exact histogram) or two passes over the data (moments/min/max, then a
    histogram for the percentiles); see the module docstring for the accuracy. Results are cached in memory
    per process, keyed by the resolved path, the key, the percentiles and the file's modification time and
    size, so calling this again for an unchanged file is free.

    Args:
        path: HDF5 file.
        key: internal dataset path, e.g. ``"raw"``.
        percentiles: the two percentile ranks stored as ``p_low``/``p_high``.
        max_block_bytes: memory budget of one block read from the file.

    Raises:
        FileNotFoundError, HDF5FileError, HDF5KeyError: see :func:`~unet3d_monai.io.files.open_h5`.
        ValueError: the dataset has no finite value or is not numeric.

    Warns:
        NonFiniteWarning: the dataset holds NaN/Inf values (they are left out).
    """
    q_low, q_high = _check_percentiles(percentiles)
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"HDF5 file '{path}' does not exist.")
    st = path.stat()
    cache_key = (str(path.resolve()), key, st.st_mtime_ns, st.st_size, q_low, q_high)
    with _CACHE_LOCK:
        cached = _CACHE.get(cache_key)
    if cached is not None:
        return cached

    with open_h5(path) as f:
        ds = get_h5_dataset(f, key)
        if ds.dtype.kind not in "biuf":
            raise ValueError(f"HDF5 file '{path}' dataset '{key}' has non-numeric dtype {ds.dtype}.")
        if ds.size == 0:
            raise ValueError(f"HDF5 file '{path}' dataset '{key}' is empty (shape {ds.shape}).")
        blocks = list(iter_blocks(ds.shape, ds.chunks, ds.dtype.itemsize, max_block_bytes))
        if ds.dtype.kind in "biu" and ds.dtype.itemsize <= 2:
            stats = _small_integer_stats(ds, blocks, q_low, q_high)
        else:
            stats = _two_pass_stats(ds, blocks, q_low, q_high)
    if stats.nonfinite:
        warnings.warn(
            f"HDF5 file '{path}' dataset '{key}' contains {stats.nonfinite} NaN/Inf values; "
            "they are left out of the intensity statistics.",
            NonFiniteWarning,
            stacklevel=2,
        )
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_MAX_ENTRIES:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[cache_key] = stats
    return stats


def count_nonfinite(path: str | PathLike, key: str, max_block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Number of NaN and +-Inf values in the HDF5 dataset ``key`` of ``path``, read block by block.

    Integer and boolean data cannot hold them and are not read.

    Example::

        if count_nonfinite("train/a.h5", "label"):
            ...

    Raises:
        FileNotFoundError, HDF5FileError, HDF5KeyError: see :func:`~unet3d_monai.io.files.open_h5`.
    """
    with open_h5(path) as f:
        return count_dataset_nonfinite(get_h5_dataset(f, key), max_block_bytes)


def count_dataset_nonfinite(dataset: Any, max_block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Number of NaN and +-Inf values in an open HDF5 dataset or zarr array, read block by block (integer and
    boolean data have none and are not read).

    Example::

        with h5py.File("cells.h5", "r") as f:
            count_dataset_nonfinite(f["raw"])
    """
    if dataset.dtype.kind not in "fc":
        return 0
    blocks = iter_blocks(dataset.shape, dataset.chunks, dataset.dtype.itemsize, max_block_bytes)
    return sum(
        int(block.size - np.count_nonzero(np.isfinite(block))) for block in (read_h5(dataset, sl) for sl in blocks)
    )
