"""Volumes on disk: finding input files (:mod:`~unet3d_monai.io.files`), reading HDF5 volumes
(:class:`HDF5Reader`, :class:`LoadHDF5d`), opening zarr stores, the voxel size of a volume (:func:`read_voxel_size`),
writing predictions (:class:`HDF5PredictionWriter`, :func:`write_nifti`), checking output folders, and writing a
file under a temporary name then renaming it (:func:`atomic_write`, :func:`atomic_path`, :func:`replace_path`).

The bottom of the package: nothing here imports another part of ``unet3d_monai`` but ``io`` itself.
"""

from unet3d_monai.io.atomic import atomic_path, atomic_write, replace_path
from unet3d_monai.io.files import (
    HDF5FileError,
    HDF5KeyError,
    check_dataset_dir,
    find_files,
    find_h5_files,
    is_zarr,
    make_datalist,
    open_h5,
)
from unet3d_monai.io.locations import check_free_space, check_writable_folder
from unet3d_monai.io.reader import HDF5Reader, LoadHDF5d
from unet3d_monai.io.voxel_size import check_voxel_size, read_voxel_size
from unet3d_monai.io.writers import HDF5PredictionWriter, OutputDtype, write_nifti
from unet3d_monai.io.zarr_store import import_zarr, open_zarr_array

__all__ = [
    "HDF5FileError",
    "HDF5KeyError",
    "HDF5PredictionWriter",
    "HDF5Reader",
    "LoadHDF5d",
    "OutputDtype",
    "atomic_path",
    "atomic_write",
    "check_dataset_dir",
    "check_free_space",
    "check_voxel_size",
    "check_writable_folder",
    "find_files",
    "find_h5_files",
    "import_zarr",
    "is_zarr",
    "make_datalist",
    "open_h5",
    "open_zarr_array",
    "read_voxel_size",
    "replace_path",
    "write_nifti",
]
