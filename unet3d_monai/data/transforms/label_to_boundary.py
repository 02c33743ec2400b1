"""Boundaries of an instance label volume, the target of boundary-prediction networks."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type
from skimage.segmentation import find_boundaries

from .utils import compact_labels, label_to_numpy, spatial_label

__all__ = ["LabelToBoundary", "LabelToBoundaryd"]

_MODES = ("thick", "inner", "outer")


class LabelToBoundary(Transform):
    """Turn an instance label volume into a boundary map.

    A voxel is a boundary voxel when its neighbourhood (``connectivity``, as in
    :func:`skimage.segmentation.find_boundaries`) holds a different label. With ``mode="thick"``
    the boundary between two instances is two voxels wide, one on each side.

    Input: ``(1, *spatial)`` or ``(*spatial)`` integer labels, 2 or 3 spatial dimensions; a
    leading axis of length 1 is read as the channel axis.
    Output: float32 ``(C, *spatial)`` with, in order, the foreground mask ``label > 0`` (when
    ``foreground``), the boundary map (1 on boundaries, 0 elsewhere) and the original labels
    (when ``append_label``). Voxels whose label equals ``ignore_index`` hold ``ignore_index`` in
    the mask and boundary channels, so that losses can skip them.

    Args:
        ignore_index: label value to carry over unchanged into the mask and boundary channels.
        append_label: append the original labels as the last channel (losses skip it, instance
            metrics read it).
        mode: ``"thick"``, ``"inner"`` or ``"outer"``, as in ``find_boundaries``.
        connectivity: neighbourhood connectivity, 1 to the number of spatial dimensions.
        foreground: prepend a foreground channel ``label > 0``.

    Example::

        >>> label = np.zeros((1, 4, 6), dtype=np.int64)
        >>> label[0, :, 3:] = 1
        >>> LabelToBoundary()(label)[0, 0]
        array([0., 0., 1., 1., 0., 0.], dtype=float32)
    """

    backend = [TransformBackends.NUMPY, TransformBackends.TORCH]

    def __init__(
        self,
        ignore_index: int | None = None,
        append_label: bool = False,
        mode: str = "thick",
        connectivity: int = 2,
        foreground: bool = False,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"LabelToBoundary mode must be one of {_MODES}, got {mode!r}.")
        if connectivity < 1:
            raise ValueError(f"LabelToBoundary connectivity must be a positive integer, got {connectivity}.")
        self.ignore_index = ignore_index
        self.append_label = append_label
        self.mode = mode
        self.connectivity = connectivity
        self.foreground = foreground

    def __call__(self, label: NdarrayOrTensor) -> NdarrayOrTensor:
        """Return the boundary channels of ``label`` (see the class docstring for shapes)."""
        labels = spatial_label(label_to_numpy(label), "LabelToBoundary")
        connectivity = min(self.connectivity, labels.ndim)
        channels = []
        if self.foreground:
            channels.append((labels > 0).astype(np.float32))
        boundaries = find_boundaries(compact_labels(labels), connectivity=connectivity, mode=self.mode)
        channels.append(boundaries.astype(np.float32))
        if self.ignore_index is not None:
            ignored = labels == self.ignore_index
            for channel in channels:
                channel[ignored] = self.ignore_index
        if self.append_label:
            channels.append(labels.astype(np.float32))
        out, *_ = convert_to_dst_type(np.stack(channels), label, dtype=np.float32)
        return out


class LabelToBoundaryd(MapTransform):
    """Dictionary-based version of :class:`LabelToBoundary`.

    Example::

        >>> LabelToBoundaryd(keys="label", append_label=True)({"label": label})["label"].shape
        (2, 4, 6)
    """

    backend = LabelToBoundary.backend

    def __init__(
        self,
        keys: KeysCollection,
        ignore_index: int | None = None,
        append_label: bool = False,
        mode: str = "thick",
        connectivity: int = 2,
        foreground: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = LabelToBoundary(
            ignore_index=ignore_index,
            append_label=append_label,
            mode=mode,
            connectivity=connectivity,
            foreground=foreground,
        )

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d
