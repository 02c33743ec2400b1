"""Segmentation as a step of a prediction chain: the dictionary version of :class:`Segmenter`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import h5py
import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import PostFix

from unet3d_monai.inference.distributed import connect
from unet3d_monai.inference.input_sampling import input_sampling, model_length_unit
from unet3d_monai.inference.on_disk import PredictionsOnDisk, StoredLabels, VoxelwiseLabels
from unet3d_monai.io.voxel_size import VOXEL_SIZE_SOURCE, meta_voxel_size
from unet3d_monai.options import as_bool, as_optional
from unet3d_monai.segmentation.blockwise import BlockwiseSegmentation, check_block_shape, required_halo
from unet3d_monai.segmentation.segmenter import SegmentationMode, Segmenter

__all__ = ["Segmentd"]

logger = logging.getLogger(__name__)


class Segmentd(MapTransform):
    """Dictionary version of :class:`Segmenter`: labels the probabilities under ``keys`` into ``output_key``.

    The probabilities ``(C, *spatial)`` (tensor or array) stay as they are; the ``uint32`` labels (``(*spatial)``
    for one channel or an instance mode, ``(C, *spatial)`` for ``threshold`` of several channels) are added as
    a numpy array under ``output_key`` (one key) or ``<key>_<output_key>`` (several keys). Predictions on disk
    (:class:`~unet3d_monai.inference.on_disk.PredictionsOnDisk`) give labels computed region by region as they are
    written (:class:`~unet3d_monai.inference.on_disk.VoxelwiseLabels`) in the voxel-wise modes; an instance mode
    segments them block by block with a halo and stitches the objects across the blocks' faces
    (:class:`~unet3d_monai.segmentation.blockwise.BlockwiseSegmentation`, on the Dask cluster of ``scheduler`` when
    set), into :class:`~unet3d_monai.inference.on_disk.StoredLabels`. The halo covers objects of ``object_size``
    voxels and the seeds' ``min_distance`` (:func:`~unet3d_monai.segmentation.blockwise.required_halo`); the blocks are
    ``block_shape``, or the predictions' blocks grown to at least twice the halo.

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
        mode, threshold, min_size, min_distance, merge_weak: see :class:`Segmenter`.
        output_key: where the labels go.
        image_key: key of the input whose meta dict holds its voxel size; None: voxels are always treated as cubes.
        model_voxel_size: the voxel size of the model's training data (its record's ``voxel_size``) when the input
            is predicted at it (``rescale``); None: ``min_distance`` counts voxels of the input's finest axis.
        object_size: the largest object, in voxels (one size, or ``(Z, Y, X)``): block-wise segmentation's halo.
        block_shape: block-wise segmentation's blocks ``(Z, Y, X)``, at least twice the halo; None: the predictions'.
        scheduler: the Dask cluster of block-wise segmentation (``local:N`` or an address); None: this process.
        progress: a progress bar over the blocks of block-wise segmentation.
        resume: keep the blocks an interrupted block-wise segmentation of the same predictions finished.
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
        merge_weak: bool = True,
        output_key: str = "segmentation",
        image_key: str | None = "image",
        model_voxel_size: Sequence[float] | None = None,
        object_size: Sequence[int] | int = 32,
        block_shape: Sequence[int] | None = None,
        scheduler: Any = None,
        progress: bool | str = False,
        resume: bool | str = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.segmenter = Segmenter(
            mode,
            threshold=threshold,
            min_size=min_size,
            min_distance=min_distance,
            merge_weak=as_bool(merge_weak, "merge_weak"),
        )
        self.output_key = output_key
        self.image_key = image_key
        self.model_voxel_size = None if model_voxel_size is None else [float(v) for v in model_voxel_size]
        self.object_size = object_size
        self.block_shape = None if block_shape is None else tuple(int(b) for b in block_shape)
        if self.segmenter.is_instance and self.block_shape is not None:
            # checked now, before any prediction: the halo in voxels, without the input's voxel size
            halo = required_halo(self.segmenter, object_size)
            check_block_shape(self.block_shape, halo)
        self.scheduler = as_optional(scheduler)
        self.progress = as_bool(progress, "progress")
        self.resume = as_bool(resume, "resume")

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
                if self.segmenter.is_instance:
                    d[name] = self._segment_blockwise(value, d)
                else:
                    d[name] = VoxelwiseLabels(value, self.segmenter)
                continue
            probabilities = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            sampling = self.sampling(d, probabilities.ndim - 1)
            unit = model_length_unit(self.model_voxel_size, probabilities.ndim - 1) if sampling else None
            labels = self.segmenter(probabilities, sampling, unit)
            d[name] = labels
        return d

    def _segment_blockwise(self, predictions: PredictionsOnDisk, data: Mapping[Hashable, object]) -> StoredLabels:
        """Instance labels of predictions on disk, block by block, into ``segmentation.h5`` of their work folder."""
        spatial = predictions.shape[1:]
        sampling = self.sampling(data, len(spatial))
        unit = model_length_unit(self.model_voxel_size, len(spatial)) if sampling else None
        halo = required_halo(self.segmenter, self.object_size, sampling, unit)
        block_shape = self.block_shape or tuple(
            min(s, max(b, 2 * h)) for s, b, h in zip(spatial, predictions.block_shape, halo)
        )
        halo = tuple(min(h, b // 2) if b >= s else h for h, b, s in zip(halo, block_shape, spatial))
        check_block_shape(block_shape, halo)
        path = predictions.work_dir / "segmentation.h5"
        with h5py.File(path, "w") as f:
            stored = f.create_dataset("segmentation", shape=spatial, dtype="uint32", chunks=True)

            def write(region: tuple[slice, ...], labels: np.ndarray) -> None:
                stored[region] = labels

            with connect(self.scheduler) if self.scheduler is not None else contextlib.nullcontext() as runner:
                segmentation = BlockwiseSegmentation(
                    self.segmenter,
                    block_shape,
                    halo,
                    predictions.work_dir / "labels",
                    sampling,
                    unit,
                    runner=runner,
                    progress=self.progress,
                    resume=self.resume,
                    fingerprint=_predictions_record(predictions),
                )
                count = segmentation.run(predictions, write)
        logger.info("Segmented %d objects block-wise.", count)
        return StoredLabels(path)


def _predictions_record(predictions: PredictionsOnDisk) -> dict:
    """What the predictions were made from (the block-wise plan record: input, network, windows), for resuming."""
    plan = predictions.work_dir / "plan.json"
    return {"predictions": plan.read_text() if plan.is_file() else str(predictions.work_dir)}
