"""Foreground masks of blob-like instances (nuclei), with an optional outer boundary channel."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type
from skimage.segmentation import find_boundaries

from .utils import compact_labels, label_to_numpy, spatial_label

__all__ = ["BlobsToMask", "BlobsToMaskd"]


class BlobsToMask(Transform):
    """Turn an instance label volume of blobs into a foreground mask.

    Input: ``(1, *spatial)`` or ``(*spatial)`` integer labels, 2 or 3 spatial dimensions; a
    leading axis of length 1 is read as the channel axis.
    Output: float32 ``(C, *spatial)`` with, in order, the mask ``label > 0``, the outer boundary of
    the blobs (when ``boundary``: background voxels touching a blob and voxels of one blob touching
    another, ``find_boundaries(mode="outer")``) and the original labels (when ``append_label``).

    Args:
        boundary: add the outer boundary channel.
        append_label: append the original labels as the last channel.
        connectivity: neighbourhood connectivity of the boundary, 1 to the number of spatial dimensions.

    Example::

        >>> label = np.array([[0, 0, 3, 3, 0]])
        >>> BlobsToMask(boundary=True)(label)
        array([[[0., 0., 1., 1., 0.]],
               [[0., 1., 0., 0., 1.]]], dtype=float32)
    """

    backend = [TransformBackends.NUMPY, TransformBackends.TORCH]

    def __init__(self, boundary: bool = False, append_label: bool = False, connectivity: int = 2) -> None:
        if connectivity < 1:
            raise ValueError(f"BlobsToMask connectivity must be a positive integer, got {connectivity}.")
        self.boundary = boundary
        self.append_label = append_label
        self.connectivity = connectivity

    def __call__(self, label: NdarrayOrTensor) -> NdarrayOrTensor:
        """Return the mask channels of ``label`` (see the class docstring for shapes)."""
        labels = spatial_label(label_to_numpy(label), "BlobsToMask")
        channels = [(labels > 0).astype(np.float32)]
        if self.boundary:
            connectivity = min(self.connectivity, labels.ndim)
            outer = find_boundaries(compact_labels(labels), connectivity=connectivity, mode="outer")
            channels.append(outer.astype(np.float32))
        if self.append_label:
            channels.append(labels.astype(np.float32))
        out, *_ = convert_to_dst_type(np.stack(channels), label, dtype=np.float32)
        return out


class BlobsToMaskd(MapTransform):
    """Dictionary-based version of :class:`BlobsToMask`.

    Example::

        >>> BlobsToMaskd(keys="label", append_label=True)({"label": label})["label"].shape
        (2, 1, 5)
    """

    backend = BlobsToMask.backend

    def __init__(
        self,
        keys: KeysCollection,
        boundary: bool = False,
        append_label: bool = False,
        connectivity: int = 2,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = BlobsToMask(boundary=boundary, append_label=append_label, connectivity=connectivity)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d
