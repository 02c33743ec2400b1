"""Loading an input volume for prediction: HDF5 or NIfTI into a channel-first float32 tensor with its statistics."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import PostFix

from unet3d_monai.data.stats import VolumeStats, compute_volume_stats
from unet3d_monai.inference.volumes import HDF5Volume, is_nifti, load_nifti

__all__ = ["LoadVolumed"]


class LoadVolumed(MapTransform):
    """Replace the path under each key by the volume it names, ``(C, Z, Y, X)`` float32 (NIfTI: ``(C, X, Y, Z)``).

    HDF5 files are read from dataset ``raw_key`` (``(Y, X)``, ``(Z, Y, X)``, ``(C, Z, Y, X)``; ``(C, Y, X)`` with
    ``channels_first_3d``); NIfTI files are read whole with their affine. NaN/Inf voxels are replaced by
    ``replace_nonfinite`` (in the input's units) when it is a number, left as they are when it is None.

    Besides the volume, each key gains ``<key>_stats`` (the whole volume's
    :class:`~unet3d_monai.data.stats.VolumeStats` as a dict, finite voxels only for HDF5, for
    :class:`~unet3d_monai.data.normalize.Normalized`) and ``<key>_meta_dict`` with ``filename_or_obj`` (the input
    path), ``affine`` (the NIfTI affine; identity for HDF5) and ``format`` (``"hdf5"`` or ``"nifti"``).

    Args:
        keys: keys holding input paths (usually ``"image"``).
        raw_key: HDF5 dataset of the input.
        channels_first_3d: read a 3D HDF5 dataset as ``(C, Y, X)`` (a multi-channel 2D image).
        replace_nonfinite: value given to NaN/Inf voxels; None keeps them.
        allow_missing_keys: don't raise if a key is missing.

    Example::

        Compose([LoadVolumed("image", raw_key="raw"), Normalized("image", mode="standardize")])({"image": "a.h5"})
    """

    def __init__(
        self,
        keys: KeysCollection,
        raw_key: str = "raw",
        channels_first_3d: bool = False,
        replace_nonfinite: float | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.raw_key = raw_key
        self.channels_first_3d = bool(channels_first_3d)
        self.replace_nonfinite = None if replace_nonfinite is None else float(replace_nonfinite)

    def _load(self, path: Path) -> tuple[np.ndarray, VolumeStats, np.ndarray, str]:
        if is_nifti(path):
            volume, affine = load_nifti(path, "none", self.replace_nonfinite)
            return volume, VolumeStats.from_array(volume), affine, "nifti"
        with HDF5Volume(path, self.raw_key, "none", self.channels_first_3d, self.replace_nonfinite) as source:
            volume = source.read_all()
        return volume, compute_volume_stats(path, self.raw_key), np.eye(4), "hdf5"

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            path = Path(d[key])
            volume, stats, affine, kind = self._load(path)
            d[key] = torch.from_numpy(np.ascontiguousarray(volume))
            d[f"{key}_stats"] = stats.to_dict()
            d[PostFix.meta(str(key))] = {"filename_or_obj": str(path), "affine": affine, "format": kind}
        return d
