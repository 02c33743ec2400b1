"""HDF5 data on MONAI: file discovery, per-volume statistics and intensity normalisation."""

from unet3d_monai.data.files import (
    HDF5FileError,
    HDF5KeyError,
    check_dataset_dir,
    find_h5_files,
    make_datalist,
)
from unet3d_monai.data.normalize import Normalize, Normalized, NormalizeMode
from unet3d_monai.data.stats import NonFiniteWarning, VolumeStats, compute_volume_stats

__all__ = [
    "HDF5FileError",
    "HDF5KeyError",
    "NonFiniteWarning",
    "Normalize",
    "NormalizeMode",
    "Normalized",
    "VolumeStats",
    "check_dataset_dir",
    "compute_volume_stats",
    "find_h5_files",
    "make_datalist",
]
