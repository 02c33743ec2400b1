"""Relabelling of instance labels to consecutive ids, optionally by connected components."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type
from skimage.measure import label as connected_components

from .utils import label_to_numpy, spatial_label

__all__ = ["Relabel", "Relabeld"]


class Relabel(Transform):
    """Relabel instances to the consecutive ids ``1..N``, keeping the background at 0.

    Without connected components the ids keep their order: ``[10, 10, 0, 6, 6]`` becomes
    ``[2, 2, 0, 1, 1]``. With ``run_cc`` every connected region of equal nonzero label gets its own
    id, so an instance split in two pieces becomes two instances, and touching instances with
    different labels stay apart.

    Input: ``(1, *spatial)`` or ``(*spatial)`` integer labels, 2 or 3 spatial dimensions.
    Output: int64 labels of the input's shape.

    Args:
        run_cc: label connected components instead of keeping the instance ids.
        connectivity: neighbourhood connectivity of the components, 1 (faces) to the number of
            spatial dimensions (faces, edges and corners); None for the full neighbourhood.
        background: the label value of the background, mapped to 0.

    Example::

        >>> Relabel(run_cc=False)(np.array([10, 10, 0, 6, 6]).reshape(1, 5))
        array([[2, 2, 0, 1, 1]])
        >>> Relabel()(np.array([[5, 0, 5, 5, 2]]))
        array([[1, 0, 2, 2, 3]])
    """

    backend = [TransformBackends.NUMPY, TransformBackends.TORCH]

    def __init__(self, run_cc: bool = True, connectivity: int | None = None, background: int = 0) -> None:
        if connectivity is not None and connectivity < 1:
            raise ValueError(f"Relabel connectivity must be a positive integer or None, got {connectivity}.")
        self.run_cc = run_cc
        self.connectivity = connectivity
        self.background = background

    def __call__(self, label: NdarrayOrTensor) -> NdarrayOrTensor:
        """Return ``label`` with consecutive ids (see the class docstring for shapes)."""
        array = label_to_numpy(label)
        labels = spatial_label(array, "Relabel")
        ids, inverse = np.unique(labels, return_inverse=True)
        new_ids = np.zeros(len(ids), dtype=np.int64)
        foreground = ids != self.background
        new_ids[foreground] = np.arange(1, int(foreground.sum()) + 1)
        out = new_ids[inverse.reshape(labels.shape)]
        if self.run_cc:
            connectivity = None if self.connectivity is None else min(self.connectivity, labels.ndim)
            out = connected_components(out, background=0, connectivity=connectivity)
        out, *_ = convert_to_dst_type(out.astype(np.int64).reshape(array.shape), label, dtype=np.int64)
        return out


class Relabeld(MapTransform):
    """Dictionary-based version of :class:`Relabel`.

    Example::

        >>> Relabeld(keys="label", run_cc=False)({"label": np.array([[7, 0, 3]])})["label"]
        array([[2, 0, 1]])
    """

    backend = Relabel.backend

    def __init__(
        self,
        keys: KeysCollection,
        run_cc: bool = True,
        connectivity: int | None = None,
        background: int = 0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = Relabel(run_cc=run_cc, connectivity=connectivity, background=background)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d
