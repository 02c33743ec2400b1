"""Resampling as steps of a prediction chain: the input onto the model's voxel size, the predictions back onto the
input's grid (the dictionary versions of :mod:`unet3d_monai.inference.rescale`)."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from os import PathLike

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import PostFix

from unet3d_monai.inference.on_disk import PredictionsOnDisk, VolumeOnDisk
from unet3d_monai.inference.rescale import model_grid_shape, rescale_factors, to_input_grid, to_model_grid
from unet3d_monai.io.voxel_size import meta_voxel_size, read_voxel_size
from unet3d_monai.options import as_bool

__all__ = ["INPUT_GRID", "ToInputGridd", "ToModelGridd", "input_rescale_factors"]

logger = logging.getLogger(__name__)

#: entry of the input's meta dict holding its spatial shape before :class:`ToModelGridd`
INPUT_GRID = "input_spatial_shape"


def input_rescale_factors(
    path: str | PathLike, raw_key: str, voxel_size: Sequence[float] | None, spatial_dims: int = 3
) -> tuple[float, ...] | None:
    """How much each axis of the input ``path`` grows to reach the model's ``voxel_size`` (see
    :func:`~unet3d_monai.inference.rescale.rescale_factors`), or None when the input is predicted as it is: the
    model's or the input's voxel size is unknown, or they agree within 5%. Only the file's header is read.

    Example::

        input_rescale_factors("stack.h5", "raw", [1.0, 0.25, 0.25])   # -> (1.0, 2.0, 2.0) for 0.5 um in-plane voxels
    """
    if voxel_size is None:
        return None
    return rescale_factors(read_voxel_size(path, raw_key)[0], voxel_size, spatial_dims)


def _meta(data: Mapping[Hashable, object], key: str, step: str) -> Mapping:
    meta = data.get(PostFix.meta(key))
    if not isinstance(meta, Mapping) or "filename_or_obj" not in meta:
        raise KeyError(f"{step} needs '{PostFix.meta(key)}' with the input path; load the input with LoadVolumed.")
    return meta


class ToModelGridd(MapTransform):
    """Resample the input under ``keys`` (``(C, Z, Y, X)``, normalised) to the model's voxel size.

    A volume on disk (:class:`~unet3d_monai.inference.on_disk.VolumeOnDisk`) is given the model's grid instead, and
    resamples each block it reads.

    The input's voxel size is the one :class:`~unet3d_monai.inference.LoadVolumed` read from its file and keeps in
    ``<key>_meta_dict`` (see :func:`~unet3d_monai.io.voxel_size.meta_voxel_size`). When it differs from
    ``voxel_size`` by more than 5% on an axis, the volume is resampled (trilinear, MONAI's ``Resize``) so that the
    network sees the voxel size it was trained at; otherwise, or when either voxel size is unknown or ``enabled`` is
    false, the volume is left as it is. Either way the spatial shape it had is kept in
    ``<key>_meta_dict["input_spatial_shape"]``, where :class:`ToInputGridd` finds it to bring the predictions back
    onto the input's grid.

    Args:
        keys: keys of the inputs (usually ``"image"``), loaded by :class:`~unet3d_monai.inference.LoadVolumed`.
        voxel_size: the voxel size the model was trained at (its record's ``voxel_size``); None: unknown.
        spatial_dims: 2 for a 2D network (the slice axis is never resampled), 3 otherwise.
        enabled: resample at all (the bundles' ``rescale`` option).
        allow_missing_keys: don't raise if a key is missing.

    Example::

        Compose([LoadVolumed("image"), Normalized("image"), ToModelGridd("image", voxel_size=[1.0, 0.25, 0.25])])
    """

    def __init__(
        self,
        keys: KeysCollection,
        voxel_size: Sequence[float] | None = None,
        spatial_dims: int = 3,
        enabled: bool | str = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.voxel_size = None if voxel_size is None else [float(v) for v in voxel_size]
        self.spatial_dims = int(spatial_dims)
        self.enabled = as_bool(enabled, "rescale")

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            meta = dict(_meta(d, str(key), "ToModelGridd"))
            volume = d[key]
            meta[INPUT_GRID] = np.asarray(volume.shape[1:], dtype=np.int64)
            d[PostFix.meta(str(key))] = meta
            if not self.enabled:
                continue
            path = str(meta["filename_or_obj"])
            factors = rescale_factors(meta_voxel_size(meta), self.voxel_size, self.spatial_dims)
            if factors is None:
                continue
            logger.info(
                "Input %s is resampled by %s to the model's voxel size %s, and its predictions back to its grid.",
                path,
                [round(f, 3) for f in factors],
                self.voxel_size,
            )
            if isinstance(volume, VolumeOnDisk):
                d[key] = volume.on_grid(model_grid_shape(volume.spatial_shape, factors))
            else:
                d[key] = to_model_grid(volume, factors)
        return d


class ToInputGridd(MapTransform):
    """Resample each array under ``keys`` (``(C, Z', Y', X')``: the probabilities, and the input for the preview)
    back onto the input's grid recorded by :class:`ToModelGridd` (trilinear); arrays already on it are left as they
    are. Predictions on disk (:class:`~unet3d_monai.inference.on_disk.PredictionsOnDisk`) are resampled region by
    region as the writer reads them; an input on disk is read on its own grid again.

    Args:
        keys: keys to bring back (usually ``["pred", "image"]``).
        image_key: key of the input, whose meta dict holds the input's spatial shape.
        allow_missing_keys: don't raise if a key is missing.

    Example::

        Compose([ToInputGridd(["pred", "image"]), Segmentd("pred"), WritePredictionsd("pred", output_dir="out")])
    """

    def __init__(self, keys: KeysCollection, image_key: str = "image", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.image_key = image_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        meta = _meta(d, self.image_key, "ToInputGridd")
        if INPUT_GRID not in meta:
            raise KeyError(
                f"ToInputGridd needs '{PostFix.meta(self.image_key)}[\"{INPUT_GRID}\"]', which ToModelGridd records; "
                "put ToModelGridd in the preprocessing."
            )
        grid = meta[INPUT_GRID]
        grid = grid.detach().cpu().numpy() if hasattr(grid, "detach") else np.asarray(grid)
        shape = tuple(int(s) for s in grid.ravel())
        for key in self.key_iterator(d):
            value = d[key]
            if tuple(value.shape[1:]) == shape:
                continue
            if isinstance(value, VolumeOnDisk):
                d[key] = value.on_grid(None)
            elif isinstance(value, PredictionsOnDisk):
                d[key] = value.on_grid(shape)
            else:
                d[key] = to_input_grid(value, shape)
        return d
