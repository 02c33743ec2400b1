"""Affinities of an instance label volume for a list of voxel offsets."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type

from .utils import label_to_numpy, spatial_label

__all__ = ["LabelToAffinities", "LabelToAffinitiesd"]


def _offset_slices(offset: Sequence[int], shape: Sequence[int]) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Slices of the voxels whose offset neighbour lies inside ``shape``, and of those neighbours."""
    voxels, neighbours = [], []
    for step, size in zip(offset, shape):
        if abs(step) >= size:
            return None
        if step >= 0:
            voxels.append(slice(0, size - step))
            neighbours.append(slice(step, size))
        else:
            voxels.append(slice(-step, size))
            neighbours.append(slice(0, size + step))
    return tuple(voxels), tuple(neighbours)


class LabelToAffinities(Transform):
    """Turn an instance label volume into affinity maps, one channel per offset.

    For an offset ``o``, the affinity of voxel ``x`` is 1 when ``x`` and ``x + o`` lie in the
    volume and carry the same nonzero label, and 0 otherwise (different labels, background, or a
    neighbour outside the volume). So 0 marks boundaries between instances and background.

    Input: ``(1, *spatial)`` or ``(*spatial)`` integer labels; the number of spatial dimensions is
    the length of the offsets (2 or 3).
    Output: float32 ``(len(offsets) [+ 1], *spatial)``: the affinity channels, in the order of
    ``offsets``, then the original labels when ``append_label``. Where the voxel or its offset
    neighbour has the label ``ignore_index``, the affinity channel holds ``ignore_index``.

    Args:
        offsets: offset vectors in voxels, e.g. ``[[1, 0, 0], [0, 1, 0], [0, 0, 1]]`` for the
            nearest neighbours along z, y and x; negative steps are allowed.
        ignore_index: label value whose affinities are set to ``ignore_index``.
        append_label: append the original labels as the last channel.

    Example::

        >>> label = np.array([[1, 1, 2, 0]])
        >>> LabelToAffinities(offsets=[[0, 1], [0, -1]])(label)
        array([[[1., 0., 0., 0.]],
               [[0., 1., 0., 0.]]], dtype=float32)
    """

    backend = [TransformBackends.NUMPY, TransformBackends.TORCH]

    def __init__(
        self, offsets: Sequence[Sequence[int]], ignore_index: int | None = None, append_label: bool = False
    ) -> None:
        offsets = [tuple(int(step) for step in offset) for offset in offsets]
        if not offsets:
            raise ValueError("LabelToAffinities needs at least one offset.")
        dims = {len(offset) for offset in offsets}
        if len(dims) != 1 or dims.pop() not in (2, 3):
            raise ValueError(f"LabelToAffinities offsets must all have 2 or all have 3 components, got {offsets}.")
        if any(not any(offset) for offset in offsets):
            raise ValueError(f"LabelToAffinities offsets must be nonzero vectors, got {offsets}.")
        self.offsets = offsets
        self.ignore_index = ignore_index
        self.append_label = append_label

    def __call__(self, label: NdarrayOrTensor) -> NdarrayOrTensor:
        """Return the affinity channels of ``label`` (see the class docstring for shapes)."""
        labels = spatial_label(label_to_numpy(label), "LabelToAffinities", spatial_dims=len(self.offsets[0]))
        channels = np.zeros((len(self.offsets) + int(self.append_label), *labels.shape), dtype=np.float32)
        ignored = labels == self.ignore_index if self.ignore_index is not None else None
        for channel, offset in zip(channels, self.offsets):
            slices = _offset_slices(offset, labels.shape)
            if slices is not None:
                voxels, neighbours = slices
                same = (labels[voxels] == labels[neighbours]) & (labels[voxels] != 0)
                channel[voxels] = same
                if ignored is not None:
                    channel[voxels][ignored[neighbours]] = self.ignore_index
            if ignored is not None:
                channel[ignored] = self.ignore_index
        if self.append_label:
            channels[-1] = labels
        out, *_ = convert_to_dst_type(channels, label, dtype=np.float32)
        return out


class LabelToAffinitiesd(MapTransform):
    """Dictionary-based version of :class:`LabelToAffinities`.

    Example::

        >>> t = LabelToAffinitiesd(keys="label", offsets=[[1, 0, 0], [0, 1, 0], [0, 0, 1]], append_label=True)
        >>> t({"label": np.ones((1, 4, 8, 8), dtype=np.int64)})["label"].shape
        (4, 4, 8, 8)
    """

    backend = LabelToAffinities.backend

    def __init__(
        self,
        keys: KeysCollection,
        offsets: Sequence[Sequence[int]],
        ignore_index: int | None = None,
        append_label: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = LabelToAffinities(offsets=offsets, ignore_index=ignore_index, append_label=append_label)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d
