"""Training data on MONAI: lazy patch datasets, per-volume statistics and normalisation, the run's sampler and
seeding, label and augmentation transforms (:mod:`unet3d_monai.data.transforms`) and synthetic sample datasets
(:mod:`unet3d_monai.data.sample`). The HDF5 reader and file discovery live in :mod:`unet3d_monai.io`; the names
exported here from it (``LoadHDF5d``, ``HDF5Reader``, ``make_datalist``, ...) stay importable from here."""

import importlib
from typing import Any

from unet3d_monai.data import transforms
from unet3d_monai.data.normalize import Normalize, Normalized, NormalizeMode
from unet3d_monai.data.patch_dataset import HDF5PatchDataset, RandomHDF5PatchDataset, SmallVolumeWarning
from unet3d_monai.data.patch_fit import fit_patch_size
from unet3d_monai.data.run_sampler import RunSampler
from unet3d_monai.data.seeded_items import ItemSeededDataset
from unet3d_monai.data.stats import NonFiniteWarning, VolumeStats, compute_volume_stats
from unet3d_monai.io.files import (
    HDF5FileError,
    HDF5KeyError,
    check_dataset_dir,
    find_h5_files,
    make_datalist,
)
from unet3d_monai.io.reader import HDF5Reader, LoadHDF5d

__all__ = [
    "HDF5FileError",
    "HDF5KeyError",
    "HDF5PatchDataset",
    "HDF5Reader",
    "ItemSeededDataset",
    "LoadHDF5d",
    "NonFiniteWarning",
    "Normalize",
    "NormalizeMode",
    "Normalized",
    "RandomHDF5PatchDataset",
    "RunSampler",
    "SmallVolumeWarning",
    "VolumeStats",
    "check_dataset_dir",
    "compute_volume_stats",
    "find_h5_files",
    "fit_patch_size",
    "make_datalist",
    "sample",
    "transforms",
]


def __getattr__(name: str) -> Any:
    # ``sample`` is imported on first use, so that ``python -m unet3d_monai.data.sample`` runs it as a script only once
    if name == "sample":
        return importlib.import_module("unet3d_monai.data.sample")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
