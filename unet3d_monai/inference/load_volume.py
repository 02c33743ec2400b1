"""Loading an input volume for prediction: HDF5 or NIfTI into a channel-first float32 tensor with its statistics, or
a volume too large for memory (and every zarr store) as a :class:`~unet3d_monai.inference.on_disk.VolumeOnDisk`."""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
import psutil
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import PostFix

from unet3d_monai.data.stats import VolumeStats, compute_volume_stats
from unet3d_monai.inference.on_disk import VolumeOnDisk
from unet3d_monai.inference.volumes import HDF5Volume, is_nifti, load_nifti
from unet3d_monai.inference.zarr_store import is_zarr
from unet3d_monai.io.voxel_size import VOXEL_SIZE, VOXEL_SIZE_SOURCE, read_voxel_size
from unet3d_monai.options import as_bool

__all__ = ["LoadVolumed"]

logger = logging.getLogger(__name__)


class LoadVolumed(MapTransform):
    """Replace the path under each key by the volume it names, ``(C, Z, Y, X)`` float32 (NIfTI: ``(C, X, Y, Z)``), or
    by a :class:`~unet3d_monai.inference.on_disk.VolumeOnDisk` that the rest of the chain reads block by block.

    A volume stays on disk when it is a zarr store, when ``blockwise`` is set (HDF5), or when an HDF5 volume's
    prediction (input, output and their float32 copies, ``out_channels`` output channels) would take more than
    ``memory_fraction`` of the available RAM. NIfTI files are always read whole.

    HDF5 files are read from dataset ``raw_key`` (``(Y, X)``, ``(Z, Y, X)``, ``(C, Z, Y, X)``; ``(C, Y, X)`` with
    ``channels_first_3d``); NIfTI files are read whole with their affine. NaN/Inf voxels are replaced by
    ``replace_nonfinite`` (in the input's units) when it is a number, left as they are when it is None.

    Besides the volume, each key gains ``<key>_stats`` (the whole volume's
    :class:`~unet3d_monai.data.stats.VolumeStats` as a dict, finite voxels only for HDF5, for
    :class:`~unet3d_monai.data.normalize.Normalized`) and ``<key>_meta_dict`` with ``filename_or_obj`` (the input
    path), ``format`` (``"hdf5"``, ``"zarr"`` or ``"nifti"``), ``voxel_size`` and ``voxel_size_source`` (read once
    here, along the array's spatial axes, see :func:`~unet3d_monai.io.voxel_size.read_voxel_size`; an empty
    ``voxel_size`` when the file does not say) and ``affine`` (the NIfTI affine; for HDF5 and zarr the voxel size on
    the diagonal, identity when unknown). The later steps (:class:`~unet3d_monai.inference.ToModelGridd`,
    :class:`~unet3d_monai.inference.Segmentd`) take the voxel size from there and never read the file again.

    Args:
        keys: keys holding input paths (usually ``"image"``).
        raw_key: HDF5 dataset of the input.
        channels_first_3d: read a 3D HDF5 dataset as ``(C, Y, X)`` (a multi-channel 2D image).
        replace_nonfinite: value given to NaN/Inf voxels; None keeps them.
        blockwise: keep every HDF5 volume on disk (predicted block by block), whatever its size.
        memory_fraction: fraction of the available RAM a prediction in memory may use.
        out_channels: output channels of the network (for the memory a prediction takes).
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
        blockwise: bool | str = False,
        memory_fraction: float = 0.5,
        out_channels: int = 1,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if not 0 < memory_fraction <= 1:
            raise ValueError(f"memory_fraction must be in (0, 1]; got {memory_fraction}.")
        self.raw_key = raw_key
        self.channels_first_3d = bool(channels_first_3d)
        self.replace_nonfinite = None if replace_nonfinite is None else float(replace_nonfinite)
        self.blockwise = as_bool(blockwise, "blockwise")
        self.memory_fraction = float(memory_fraction)
        self.out_channels = int(out_channels)

    def fits_in_memory(self, shape: tuple[int, ...]) -> bool:
        """Whether predicting a volume of ``shape`` ``(C, *spatial)`` in memory fits ``memory_fraction`` of the
        available RAM (input and output, each with a float32 copy, and the blending weights)."""
        needed = 4 * math.prod(shape[1:]) * (2 * int(shape[0]) + 2 * self.out_channels + 1)
        return needed <= self.memory_fraction * psutil.virtual_memory().available

    def on_disk(self, path: str | Path) -> VolumeOnDisk | None:
        """The volume of ``path`` as a :class:`VolumeOnDisk` when it is predicted block by block, else None."""
        path = Path(path)
        if is_nifti(path):
            if self.blockwise:
                logger.info("NIfTI input %s is predicted in memory (block-wise prediction reads HDF5 and zarr).", path)
            return None
        volume = VolumeOnDisk.of_file(path, self.raw_key, self.channels_first_3d, self.replace_nonfinite)
        if is_zarr(path) or self.blockwise:
            return volume
        if not self.fits_in_memory(volume.shape):
            logger.info("Volume %s %s does not fit the memory budget: predicting block-wise.", path, volume.shape[1:])
            return volume
        return None

    def _load(self, path: Path) -> tuple[np.ndarray, VolumeStats, np.ndarray, str]:
        if is_nifti(path):
            volume, affine = load_nifti(path, "none", self.replace_nonfinite)
            return volume, VolumeStats.from_array(volume), affine, "nifti"
        with HDF5Volume(path, self.raw_key, "none", self.channels_first_3d, self.replace_nonfinite) as source:
            volume = source.read_all()
        return volume, compute_volume_stats(path, self.raw_key), np.eye(4), "hdf5"

    def _meta(self, path: Path, affine: np.ndarray | None, kind: str) -> dict[str, object]:
        voxel_size, source = read_voxel_size(path, self.raw_key)
        if affine is None:
            affine = np.eye(4)
            if voxel_size is not None and len(voxel_size) == 3:
                affine[:3, :3] = np.diag(voxel_size)
        return {
            "filename_or_obj": str(path),
            "affine": affine,
            "format": kind,
            VOXEL_SIZE: np.asarray(voxel_size or (), dtype=np.float64),
            VOXEL_SIZE_SOURCE: source,
        }

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            path = Path(d[key])
            on_disk = self.on_disk(path)
            if on_disk is not None:
                d[key] = on_disk
                d[PostFix.meta(str(key))] = self._meta(path, None, "zarr" if is_zarr(path) else "hdf5")
                continue
            volume, stats, affine, kind = self._load(path)
            d[key] = torch.from_numpy(np.ascontiguousarray(volume))
            d[f"{key}_stats"] = stats.to_dict()
            d[PostFix.meta(str(key))] = self._meta(path, affine if kind == "nifti" else None, kind)
        return d
