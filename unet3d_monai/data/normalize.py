"""Intensity normalisation with per-volume statistics, identical in training and prediction.

Modes (``x`` the input, statistics from :class:`~unet3d_monai.data.stats.VolumeStats`):

- ``"standardize"``: ``(x - mean) / max(std, eps)`` (pytorch-3dunet's ``Standardize``).
- ``"percentile"``: ``(x - p_low) / (p_high - p_low + eps)`` with the 1st and 99.6th percentiles by default
  (pytorch-3dunet's ``PercentileNormalizer``).
- ``"minmax"``: ``(x - min) / (max - min + eps)``.
- ``"none"``: ``x`` unchanged (cast to float32).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import StrEnum, TransformBackends, look_up_option

from unet3d_monai.data.stats import DEFAULT_PERCENTILES, VolumeStats

__all__ = ["Normalize", "NormalizeMode", "Normalized"]


class NormalizeMode(StrEnum):
    """Intensity normalisation modes of :class:`Normalize`."""

    STANDARDIZE = "standardize"
    PERCENTILE = "percentile"
    MINMAX = "minmax"
    NONE = "none"


class Normalize(Transform):
    """Normalise intensities with whole-volume statistics; returns float32 of the input's type.

    Input: an array or tensor of any shape (typically ``(C, Z, Y, X)`` or ``(C, Y, X)``), numpy,
    torch or MetaTensor (meta data is kept). Output: the same shape and type, dtype float32.

    Args:
        mode: ``"standardize"``, ``"percentile"``, ``"minmax"`` or ``"none"`` (see the module docstring).
        eps: guards against division by zero.
        clip: clip the result to [0, 1]; only for ``"percentile"`` and ``"minmax"``.
        percentiles: percentile ranks used by ``"percentile"`` when the statistics are computed from the
            input itself; statistics passed in must have been computed with the same ranks.

    Example::

        stats = compute_volume_stats("cells.h5", "raw")
        patch = Normalize("standardize")(patch, stats)   # uses the whole volume's mean/std
        alone = Normalize("percentile")(patch)           # uses the patch's own percentiles
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        mode: NormalizeMode | str = NormalizeMode.STANDARDIZE,
        eps: float = 1e-10,
        clip: bool = False,
        percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    ) -> None:
        self.mode = NormalizeMode(look_up_option(mode, NormalizeMode))
        if clip and self.mode not in (NormalizeMode.PERCENTILE, NormalizeMode.MINMAX):
            raise ValueError(f"clip=True needs mode 'percentile' or 'minmax', got mode '{self.mode.value}'.")
        if eps < 0:
            raise ValueError(f"eps must be non-negative, got {eps}.")
        self.eps = float(eps)
        self.clip = clip
        self.percentiles = tuple(float(q) for q in percentiles)
        if len(self.percentiles) != 2 or not 0.0 <= self.percentiles[0] <= self.percentiles[1] <= 100.0:
            raise ValueError(f"percentiles must be two ranks 0 <= low <= high <= 100, got {tuple(percentiles)}.")

    def offset_scale(self, stats: VolumeStats) -> tuple[float, float]:
        """``(offset, scale)`` such that the output is ``(x - offset) / scale``."""
        if self.mode == NormalizeMode.STANDARDIZE:
            return stats.mean, max(stats.std, self.eps)
        if self.mode == NormalizeMode.PERCENTILE:
            if (stats.q_low, stats.q_high) != self.percentiles:
                raise ValueError(
                    f"Normalize(mode='percentile') uses percentiles {self.percentiles} but the statistics were "
                    f"computed for ({stats.q_low}, {stats.q_high})."
                )
            return stats.p_low, stats.p_high - stats.p_low + self.eps
        if self.mode == NormalizeMode.MINMAX:
            return stats.min, stats.max - stats.min + self.eps
        return 0.0, 1.0

    def __call__(self, img: NdarrayOrTensor, stats: VolumeStats | Mapping | None = None) -> NdarrayOrTensor:
        """
        Args:
            img: the intensities.
            stats: whole-volume statistics (a :class:`VolumeStats` or its ``to_dict()``); None computes them
                from ``img`` itself.
        """
        out = img.to(torch.float32) if isinstance(img, torch.Tensor) else np.asarray(img, dtype=np.float32)
        if self.mode == NormalizeMode.NONE:
            return out
        if stats is None:
            stats = VolumeStats.from_array(img, self.percentiles)
        elif not isinstance(stats, VolumeStats):
            stats = VolumeStats.from_dict(stats)
        offset, scale = self.offset_scale(stats)
        out = (out - offset) / scale
        if self.clip:
            out = out.clamp(0.0, 1.0) if isinstance(out, torch.Tensor) else np.clip(out, 0.0, 1.0)
        return out


@runtime_checkable
class NormalizesOnRead(Protocol):
    """A volume on disk that normalises the blocks it reads: :class:`Normalized` hands it the mode."""

    def normalized(self, mode: str) -> Any:
        """The volume, read with normalisation ``mode`` and its whole-volume statistics."""
        ...


class Normalized(MapTransform):
    """Dictionary version of :class:`Normalize`, using the volume statistics carried by the sample.

    If ``data[stats_key]`` is present (a :class:`VolumeStats` or its ``to_dict()``, as attached by
    :class:`~unet3d_monai.data.HDF5PatchDataset` under ``"image_stats"``), every key is normalised with
    those whole-volume statistics; otherwise each key is normalised with its own statistics. A volume read block by
    block from disk (:class:`NormalizesOnRead`, e.g. ``unet3d_monai.inference.VolumeOnDisk``) is given the mode
    instead, and normalises every block it reads with its whole-volume statistics.

    Args:
        keys: keys of the arrays to normalise (usually ``"image"``).
        mode, eps, clip, percentiles: see :class:`Normalize`.
        stats_key: key of the volume statistics in the sample.
        allow_missing_keys: don't raise if a key is missing.

    Example::

        Compose([RandFlipd(["image", "label"], prob=0.5), Normalized("image", mode="standardize")])
    """

    backend = Normalize.backend

    def __init__(
        self,
        keys: KeysCollection,
        mode: NormalizeMode | str = NormalizeMode.STANDARDIZE,
        stats_key: str = "image_stats",
        eps: float = 1e-10,
        clip: bool = False,
        percentiles: Sequence[float] = DEFAULT_PERCENTILES,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.normalizer = Normalize(mode=mode, eps=eps, clip=clip, percentiles=percentiles)
        self.stats_key = stats_key

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        stats = d.get(self.stats_key)
        for key in self.key_iterator(d):
            value = d[key]
            if isinstance(value, NormalizesOnRead):
                d[key] = value.normalized(self.normalizer.mode.value)
            else:
                d[key] = self.normalizer(value, stats)
        return d
