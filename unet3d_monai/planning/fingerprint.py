"""A dataset fingerprint: shapes, voxel sizes, intensities, classes and object sizes of the training volumes.

Shapes and voxel sizes come from the file headers; intensities, classes and objects from MONAI's Auto3DSeg
analyzers (``ImageStats``, ``FgImageStats``, ``LabelStats``, the per-case analyzers of
``monai.apps.auto3dseg.DataAnalyzer``) run on one volume at a time, read through this package's HDF5 reader or
nibabel. A volume of more than ``max_voxels`` voxels is read with a stride (every 2nd, 3rd... voxel along each
axis) so that no more than that is held at once; object sizes are then scaled back by the stride.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.auto3dseg import FgImageStats, ImageStats, LabelStats
from monai.data import MetaTensor
from scipy import ndimage

from unet3d_monai.io.files import find_h5_files, get_h5_dataset, open_h5, read_h5
from unet3d_monai.io.voxel_size import read_voxel_size, volume_shape

__all__ = ["DatasetFingerprint", "VolumeFingerprint", "compute_fingerprint", "find_training_volumes", "object_measures"]

# label volumes with at most this many distinct values hold classes; more are instance labels (cells, nuclei)
MAX_CLASSES = 32
INTENSITY_KEYS = ("mean", "stdev", "min", "max", "median", "percentile_00_5", "percentile_99_5")


@dataclass
class VolumeFingerprint:
    """One training volume: its path, spatial shape, voxel size (None if unknown) with its source, and the stride
    its intensities were read with."""

    path: str
    shape: list[int]
    voxel_size: list[float] | None
    voxel_size_source: str
    stride: int = 1


@dataclass
class DatasetFingerprint:
    """What the plan needs to know about a training set.

    Attributes:
        volumes: one :class:`VolumeFingerprint` per training volume.
        intensity: whole-volume intensity statistics (``INTENSITY_KEYS``), the mean over volumes.
        foreground_intensity: the same inside the labelled foreground (label > 0), or None without labels.
        label_kind: ``"classes"`` (at most 32 distinct values), ``"instances"`` (more: one id per object),
            ``"continuous"`` (a regression target) or None (no labels).
        class_frequencies: fraction of all voxels per class value (``"classes"``), or of background (``0``) and
            foreground (``1``) for ``"instances"``; None otherwise.
        object_size: median extent of the labelled objects along each axis, in voxels (connected components of
            each class, or the instances), or None.
        object_count: how many objects ``object_size`` was measured on.
        object_voxels: median number of voxels of those objects, or None.
        spatial_axes: the axis order of shapes and voxel sizes: ``"ZYX"`` (HDF5) or ``"XYZ"`` (NIfTI).
    """

    volumes: list[VolumeFingerprint]
    intensity: dict[str, float]
    foreground_intensity: dict[str, float] | None = None
    label_kind: str | None = None
    class_frequencies: dict[str, float] | None = None
    object_size: list[float] | None = None
    object_count: int = 0
    object_voxels: float | None = None
    spatial_axes: str = "ZYX"

    @property
    def shapes(self) -> np.ndarray:
        """Spatial shapes, one row per volume."""
        return np.asarray([v.shape for v in self.volumes], dtype=np.int64)

    @property
    def median_shape(self) -> list[float]:
        """Median spatial shape over the volumes (per axis)."""
        return [float(s) for s in np.median(self.shapes, axis=0)]

    @property
    def min_shape(self) -> list[int]:
        """The smallest size along each axis over the volumes."""
        return [int(s) for s in self.shapes.min(axis=0)]

    @property
    def voxel_size(self) -> list[float] | None:
        """Median voxel size per axis over the volumes that state one; None when none does."""
        known = [v.voxel_size for v in self.volumes if v.voxel_size is not None]
        return [float(s) for s in np.median(np.asarray(known), axis=0)] if known else None

    @property
    def voxel_size_sources(self) -> list[str]:
        """Where the voxel sizes came from (distinct, in order)."""
        return list(dict.fromkeys(v.voxel_size_source for v in self.volumes))

    @property
    def object_size_um(self) -> list[float] | None:
        """``object_size`` in the unit of the voxel size (micrometres for HDF5 ``element_size_um``); None without
        objects or without a voxel size."""
        if self.object_size is None or self.voxel_size is None:
            return None
        return [float(e * v) for e, v in zip(self.object_size, self.voxel_size)]

    @property
    def object_radius(self) -> float | None:
        """Half the objects' median extent along their shortest axis, measured physically and counted in voxels of
        the finest axis (the length the segmentation's ``min_distance`` counts); None without objects.

        Example: objects 8 x 40 x 40 voxels of (2.0, 0.25, 0.25) um are 16 x 10 x 10 um: radius 5 um, 20 voxels.
        """
        if self.object_size is None:
            return None
        # the axes the volumes extend along (2D data stored as (1, Y, X) has objects one voxel "thick")
        axes = [axis for axis, size in enumerate(self.median_shape) if size > 1] or list(range(len(self.object_size)))
        voxel = self.voxel_size or [1.0] * len(self.object_size)
        physical = [self.object_size[axis] * voxel[axis] for axis in axes]
        return float(min(physical)) / 2 / float(min(voxel[axis] for axis in axes))

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON, with the derived shapes, voxel size and object measures."""
        values = asdict(self)
        values.update(
            median_shape=self.median_shape,
            min_shape=self.min_shape,
            voxel_size=self.voxel_size,
            object_size_um=self.object_size_um,
            object_radius=self.object_radius,
        )
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DatasetFingerprint:
        """The fingerprint written by :meth:`to_dict`."""
        names = {f for f in cls.__dataclass_fields__}
        kept = {k: v for k, v in values.items() if k in names}
        kept["volumes"] = [VolumeFingerprint(**v) for v in values["volumes"]]
        return cls(**kept)


def find_training_volumes(files: str | PathLike | Sequence[str | PathLike]) -> list[Path]:
    """HDF5 and NIfTI files named by ``files`` (a file, a folder, a glob or a list); a dataset folder with a
    ``train/`` subfolder means that subfolder."""
    if isinstance(files, (str, PathLike)) and (Path(files) / "train").is_dir():
        files = Path(files) / "train"
    if isinstance(files, (str, PathLike)) and Path(files).is_dir():
        nifti = sorted(p for p in Path(files).iterdir() if p.name.lower().endswith((".nii", ".nii.gz")))
        h5 = [p for p in Path(files).iterdir() if p.suffix.lower() in (".h5", ".hdf5", ".hdf", ".hd5")]
        if nifti or not h5:
            found = sorted(nifti + h5)
            if not found:
                raise FileNotFoundError(f"Folder '{files}' holds no HDF5 (*.h5) or NIfTI (*.nii, *.nii.gz) volume.")
            return found
    return find_h5_files(files)


def _nifti_label_path(path: Path) -> Path | None:
    """``<stem>_label.nii.gz`` (or ``labels/<name>``) beside a NIfTI image, when it exists."""
    stem = path.name[: -len(".nii.gz")] if path.name.lower().endswith(".nii.gz") else path.stem
    suffix = path.name[len(stem) :]
    for candidate in (path.with_name(f"{stem}_label{suffix}"), path.parent.parent / "labels" / path.name):
        if candidate.is_file():
            return candidate
    return None


def _read_strided(path: Path, key: str | None, stride: int) -> np.ndarray | None:
    """The volume (first channel of multi-channel data) read with ``stride`` along each spatial axis; None when
    the label is absent."""
    if path.name.lower().endswith((".nii", ".nii.gz")):
        label = _nifti_label_path(path) if key == "label" else path
        if label is None:
            return None
        data = nib.load(str(label)).dataobj
        index = tuple(slice(None, None, stride) for _ in range(3))
        array = np.asarray(data[index + (0,) * (len(data.shape) - 3)])
        return array
    with open_h5(path) as f:
        if key not in f:
            return None
        dataset = get_h5_dataset(f, key)
        spatial = tuple(slice(None, None, stride) for _ in range(min(dataset.ndim, 3)))
        index = (0, *spatial) if dataset.ndim == 4 else spatial
        return read_h5(dataset, index)


def _label_kind(label: np.ndarray) -> str:
    if label.dtype.kind == "f" and not np.all(np.mod(label, 1) == 0):
        return "continuous"
    return "classes" if np.unique(label).size <= MAX_CLASSES else "instances"


def _metatensor(array: np.ndarray, spacing: Sequence[float], path: Path) -> MetaTensor:
    affine = np.eye(4)
    affine[: len(spacing), : len(spacing)] = np.diag(spacing)
    return MetaTensor(
        torch.from_numpy(np.ascontiguousarray(array)),
        affine=torch.as_tensor(affine),
        meta={"filename_or_obj": str(path)},
    )


def _intensity(stats: Mapping) -> dict[str, float]:
    values = stats["intensity"][0]
    return {name: float(values[name]) for name in INTENSITY_KEYS}


def object_measures(label: np.ndarray, kind: str) -> tuple[list[list[int]], list[int]]:
    """Bounding-box extents and voxel counts of the objects of a label volume: instances (``kind``
    ``"instances"``), or the connected components of each class above 0 (``"classes"``)."""
    if kind == "instances":
        objects = [label.astype(np.int64, copy=False)]
    else:
        objects = [ndimage.label(label == value)[0] for value in np.unique(label) if value != 0]
    extents, sizes = [], []
    for numbered in objects:
        counts = np.bincount(numbered.ravel())
        for index, box in enumerate(ndimage.find_objects(numbered), start=1):
            if box is not None:
                extents.append([s.stop - s.start for s in box])
                sizes.append(int(counts[index]))
    return extents, sizes


def compute_fingerprint(
    files: str | PathLike | Sequence[str | PathLike],
    raw_key: str = "raw",
    label_key: str | None = "label",
    voxel_size: Sequence[float] | float | None = None,
    max_voxels: int = 2**22,
) -> DatasetFingerprint:
    """The fingerprint of the training volumes named by ``files``.

    Args:
        files: a dataset folder (its ``train/`` is used), a folder, a file, a glob or a list of HDF5/NIfTI files.
        raw_key: HDF5 dataset of the images.
        label_key: HDF5 dataset of the labels (None: no labels). A NIfTI image ``<stem>.nii.gz`` takes its labels
            from ``<stem>_label.nii.gz`` beside it, or from ``../labels/<stem>.nii.gz``.
        voxel_size: the voxel size of volumes whose files do not state one (``--voxel_size``).
        max_voxels: the most voxels read from one volume at once (larger volumes are read with a stride).

    Example::

        fingerprint = compute_fingerprint("data/cells")       # data/cells/train/*.h5
        fingerprint.median_shape, fingerprint.voxel_size, fingerprint.intensity["mean"]
    """
    paths = find_training_volumes(files)
    volumes, intensities, foregrounds, kinds, extents, object_voxels = [], [], [], [], [], []
    class_voxels: dict[str, float] = {}
    total_voxels = 0
    for path in paths:
        shape = list(volume_shape(path, raw_key))
        size, source = read_voxel_size(path, raw_key, voxel_size)
        stride = max(1, math.ceil((math.prod(shape) / max_voxels) ** (1 / len(shape))))
        volumes.append(VolumeFingerprint(str(path), shape, None if size is None else list(size), source, stride))
        spacing = [s * stride for s in (size or [1.0] * len(shape))]
        image = _read_strided(path, raw_key, stride).astype(np.float32, copy=False)
        label = None if label_key is None else _read_strided(path, label_key, stride)
        data = {"image": _metatensor(image[None], spacing, path)}
        if np.any(image != 0):
            intensities.append(_intensity(ImageStats("image")(data)["image_stats"]))
        else:  # MONAI's ImageStats crops to the non-zero voxels first, of which a blank volume has none
            intensities.append(dict.fromkeys(INTENSITY_KEYS, 0.0))
        if label is None or label.shape != image.shape:
            kinds.append(None)
            continue
        kind = _label_kind(label)
        kinds.append(kind)
        if kind == "continuous":
            continue
        foreground = label if kind == "classes" else (label > 0)
        data["label"] = _metatensor(foreground.astype(np.float32), spacing, path)
        if np.any(foreground > 0):
            foregrounds.append(_intensity(FgImageStats("image", "label")(data)["image_foreground_stats"]))
        label_stats = LabelStats("image", "label", do_ccp=False)(data)["label_stats"]
        voxels = float(foreground.size)
        total_voxels += voxels
        for value, entry in zip(label_stats["labels"], label_stats["label"]):
            name = str(int(value))
            class_voxels[name] = class_voxels.get(name, 0.0) + float(entry["foreground_percentage"]) * voxels
        volume_extents, volume_sizes = object_measures(np.asarray(label), kind)
        extents += [[e * stride for e in extent] for extent in volume_extents]
        object_voxels += [size * stride ** len(shape) for size in volume_sizes]
    known = [k for k in kinds if k is not None]
    label_kind = max(set(known), key=known.count) if known else None

    def mean_over(stats: list[dict[str, float]]) -> dict[str, float] | None:
        return {k: float(np.mean([s[k] for s in stats])) for k in INTENSITY_KEYS} if stats else None

    return DatasetFingerprint(
        volumes=volumes,
        intensity=mean_over(intensities),
        foreground_intensity=mean_over(foregrounds),
        label_kind=label_kind,
        class_frequencies={k: v / total_voxels for k, v in sorted(class_voxels.items(), key=lambda kv: int(kv[0]))}
        if total_voxels
        else None,
        object_size=[float(s) for s in np.median(np.asarray(extents), axis=0)] if extents else None,
        object_count=len(extents),
        object_voxels=float(np.median(object_voxels)) if object_voxels else None,
        spatial_axes="XYZ" if paths and paths[0].name.lower().endswith((".nii", ".nii.gz")) else "ZYX",
    )
