"""Shape helpers shared by the label transforms."""

from __future__ import annotations

import numpy as np
from monai.config import NdarrayOrTensor
from monai.utils import convert_data_type

__all__ = ["compact_labels", "label_to_numpy", "spatial_label"]

_COMPACT_DTYPES = (np.uint8, np.uint16, np.uint32, np.int8, np.int16, np.int32)


def label_to_numpy(label: NdarrayOrTensor) -> np.ndarray:
    """Return ``label`` as a numpy array (a view where possible), whatever its array type."""
    array, *_ = convert_data_type(label, np.ndarray)
    return array


def spatial_label(label: np.ndarray, name: str, spatial_dims: int | None = None) -> np.ndarray:
    """Return the spatial part of a label array given as ``(1, *spatial)`` or ``(*spatial)``.

    A leading axis of length 1 is read as the channel axis. With ``spatial_dims`` given, an array
    of exactly that rank is taken as spatial, and one of rank ``spatial_dims + 1`` must have a
    singleton first axis. Without it, 2 or 3 spatial dimensions are accepted.

    Args:
        label: the label array.
        name: the transform's name, used in error messages.
        spatial_dims: the expected number of spatial dimensions, or None for 2 or 3.

    Raises:
        ValueError: when the shape is not one of the accepted forms.
    """
    shape = tuple(label.shape)
    if spatial_dims is not None:
        if label.ndim == spatial_dims:
            return label
        if label.ndim == spatial_dims + 1 and shape[0] == 1:
            return label[0]
        raise ValueError(
            f"{name} expects a label of shape (1, *spatial) or (*spatial) with {spatial_dims} spatial "
            f"dimensions, got shape {shape}."
        )
    if label.ndim == 2 or (label.ndim == 3 and shape[0] != 1):
        return label
    if label.ndim in (3, 4) and shape[0] == 1:
        return label[0]
    raise ValueError(
        f"{name} expects a label of shape (1, *spatial) or (*spatial) with 2 or 3 spatial dimensions, "
        f"got shape {shape}."
    )


def compact_labels(labels: np.ndarray) -> np.ndarray:
    """Return labels as a small integer array with the same equalities and the same zero voxels.

    Floating-point labels (MONAI loads images as float32) and 64-bit labels are renumbered to
    int32 ``0..N`` (0 stays 0), because ``skimage.segmentation.find_boundaries`` needs integers and
    overflows on 64-bit labels in ``mode="outer"``; smaller integer types pass through unchanged.
    """
    if labels.dtype in _COMPACT_DTYPES:
        return labels
    ids, inverse = np.unique(labels, return_inverse=True)
    new_ids = np.arange(1, len(ids) + 1, dtype=np.int32)
    new_ids[ids == 0] = 0
    return new_ids[inverse.reshape(labels.shape)]
