"""Segmentation as a step of a prediction chain: the dictionary version of :class:`Segmenter`."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform

from unet3d_monai.inference.segmentation import SegmentationMode, Segmenter

__all__ = ["Segmentd"]


class Segmentd(MapTransform):
    """Dictionary version of :class:`Segmenter`: labels the probabilities under ``keys`` into ``output_key``.

    The probabilities ``(C, *spatial)`` (tensor or array) stay as they are; the ``uint32`` labels (``(*spatial)``
    for one channel or an instance mode, ``(C, *spatial)`` for ``threshold`` of several channels) are added as
    a numpy array under ``output_key`` (one key) or ``<key>_<output_key>`` (several keys).

    Args:
        keys: keys of the probability maps (usually ``"pred"``).
        mode, threshold, min_size, min_distance: see :class:`Segmenter`.
        output_key: where the labels go.
        allow_missing_keys: don't raise if a key is missing.

    Example:
        >>> Segmentd("pred", mode="argmax")({"pred": np.array([[[0.2, 0.7]], [[0.8, 0.3]]])})["segmentation"].tolist()
        [[1, 0]]
    """

    def __init__(
        self,
        keys: KeysCollection,
        mode: SegmentationMode | str = SegmentationMode.THRESHOLD,
        threshold: float = 0.5,
        min_size: int = 0,
        min_distance: int = 2,
        output_key: str = "segmentation",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.segmenter = Segmenter(mode, threshold=threshold, min_size=min_size, min_distance=min_distance)
        self.output_key = output_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        several = len(self.keys) > 1
        for key in self.key_iterator(d):
            value = d[key]
            probabilities = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            d[f"{key}_{self.output_key}" if several else self.output_key] = self.segmenter(probabilities)
        return d
