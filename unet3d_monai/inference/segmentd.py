"""Segmentation as a step of a prediction chain: the dictionary version of :class:`Segmenter`."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import PostFix

from unet3d_monai.inference.input_sampling import input_sampling, model_length_unit
from unet3d_monai.inference.on_disk import LabelsOnDisk, PredictionsOnDisk
from unet3d_monai.io.voxel_size import VOXEL_SIZE_SOURCE, meta_voxel_size
from unet3d_monai.segmentation.segmenter import SegmentationMode, Segmenter

__all__ = ["Segmentd"]


class Segmentd(MapTransform):
    """Dictionary version of :class:`Segmenter`: labels the probabilities under ``keys`` into ``output_key``.

    The probabilities ``(C, *spatial)`` (tensor or array) stay as they are; the ``uint32`` labels (``(*spatial)``
    for one channel or an instance mode, ``(C, *spatial)`` for ``threshold`` of several channels) are added as
    a numpy array under ``output_key`` (one key) or ``<key>_<output_key>`` (several keys). Predictions on disk
    (:class:`~unet3d_monai.inference.on_disk.PredictionsOnDisk`) give labels computed region by region as they are
    written (:class:`~unet3d_monai.inference.on_disk.LabelsOnDisk`) in the voxel-wise modes, and are read whole for an
    instance mode, which needs the whole volume.

    The distance-based modes (``foreground_watershed``, ``boundary_distance_watershed``) measure distances in the
    input's voxel size: the one :class:`~unet3d_monai.inference.LoadVolumed` read from the input file and keeps in
    ``<image_key>_meta_dict`` (see :func:`~unet3d_monai.io.voxel_size.meta_voxel_size`; the affine's column lengths
    for a volume loaded otherwise), passed to the :class:`Segmenter` as ``sampling``, so ``min_distance`` counts
    voxels of the finest axis. The probabilities must then be on the input's grid (after
    :class:`~unet3d_monai.inference.ToInputGridd`). Without that meta dict, or when the file does not say, voxels are
    treated as cubes. With ``model_voxel_size`` (the voxel size the network was trained at, when the input is
    resampled to it), ``min_distance`` counts voxels of its finest axis instead: an input sampled twice as finely as
    the training data gets seeds twice as many of its voxels apart.

    Args:
        keys: keys of the probability maps (usually ``"pred"``).
        mode, threshold, min_size, min_distance: see :class:`Segmenter`.
        output_key: where the labels go.
        image_key: key of the input whose meta dict holds its voxel size; None: voxels are always treated as cubes.
        model_voxel_size: the voxel size of the model's training data (its record's ``voxel_size``) when the input
            is predicted at it (``rescale``); None: ``min_distance`` counts voxels of the input's finest axis.
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
        image_key: str | None = "image",
        model_voxel_size: Sequence[float] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.segmenter = Segmenter(mode, threshold=threshold, min_size=min_size, min_distance=min_distance)
        self.output_key = output_key
        self.image_key = image_key
        self.model_voxel_size = None if model_voxel_size is None else [float(v) for v in model_voxel_size]

    def sampling(self, data: Mapping[Hashable, object], spatial_ndim: int) -> tuple[float, ...] | None:
        """The voxel size of the input in ``data``'s ``<image_key>_meta_dict``, or None (see the class)."""
        if self.image_key is None or not self.segmenter.uses_sampling:
            return None
        meta = data.get(PostFix.meta(self.image_key))
        if not isinstance(meta, Mapping):
            return None
        name = str(meta.get("filename_or_obj", "the input"))
        return input_sampling(meta_voxel_size(meta), spatial_ndim, name, str(meta.get(VOXEL_SIZE_SOURCE, "affine")))

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        several = len(self.keys) > 1
        for key in self.key_iterator(d):
            value = d[key]
            name = f"{key}_{self.output_key}" if several else self.output_key
            if isinstance(value, PredictionsOnDisk):
                if not self.segmenter.is_instance:
                    d[name] = LabelsOnDisk(value, self.segmenter)
                    continue
                value = value.read(tuple(slice(0, s) for s in value.shape[1:]))
            probabilities = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            sampling = self.sampling(d, probabilities.ndim - 1)
            unit = model_length_unit(self.model_voxel_size, probabilities.ndim - 1) if sampling else None
            labels = self.segmenter(probabilities, sampling, unit)
            d[name] = labels
        return d
