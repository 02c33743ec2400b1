"""pytorch-3dunet's ``transformer`` lists (``raw``, ``label``, ``weight``) as one MONAI dictionary-transform chain.

pytorch-3dunet applied one list per array and kept random geometry consistent by seeding every transform of a
phase alike; a MONAI chain applies each random geometric transform once to every key it names, so the geometric
transforms that appear in several lists in the same order become one transform over those keys, each key with its
own interpolation. Everything else applies to the keys whose list names it. The result is a list of MONAI config
dicts (``{"_target_": ..., ...}``) for a bundle's ``Compose``, plus the notes on what differs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from unet3d_monai.compat.notes import ConfigKeyError, ConversionNote, check_keys, check_name

__all__ = [
    "ARRAY_KEYS",
    "SEED_TRANSFORM_OPTIONS",
    "TransformChain",
    "convert_transformer",
    "prediction_normalization",
]

#: transformer list name -> key of the sample dict
ARRAY_KEYS = {"raw": "image", "label": "label", "weight": "weight"}

#: every pytorch-3dunet transform and the options it accepts
SEED_TRANSFORM_OPTIONS: dict[str, tuple[str, ...]] = {
    "RandomFlip": ("axis_prob",),
    "RandomRotate90": (),
    "RandomRotate": ("angle_spectrum", "axes", "mode", "order"),
    "ElasticDeformation": ("spline_order", "alpha", "sigma", "execution_probability", "apply_3d"),
    "CropToFixed": ("size", "centered"),
    "Standardize": ("eps", "mean", "std", "channelwise"),
    "PercentileNormalizer": ("pmin", "pmax", "channelwise", "eps"),
    "Normalize": ("min_value", "max_value", "norm01", "eps"),
    "GaussianBlur3D": ("sigma", "execution_probability"),
    "AdditiveGaussianNoise": ("scale", "execution_probability"),
    "AdditivePoissonNoise": ("lam", "execution_probability"),
    "RandomContrast": ("alpha", "mean", "execution_probability"),
    "RandomGammaCorrection": ("gamma", "execution_probability"),
    "StandardLabelToBoundary": ("ignore_index", "append_label", "mode", "foreground"),
    "BlobsToMask": ("append_label", "boundary", "cross_entropy"),
    "Relabel": ("append_original", "run_cc", "ignore_label"),
    "ToTensor": ("expand_dims", "dtype", "normalize"),
    "LabelToTensor": (),
    "Identity": (),
    "RandomLabelToAffinities": ("max_offset", "ignore_index", "append_label", "z_offset_scale"),
    "LabelToAffinities": ("offsets", "ignore_index", "append_label", "aggregate_affinities", "z_offsets"),
    "LabelToZAffinities": ("offsets", "ignore_index", "append_label"),
    "LabelToBoundaryAndAffinities": (
        "xy_offsets",
        "z_offsets",
        "append_label",
        "ignore_index",
        "mode",
        "foreground",
    ),
    "LabelToMaskAndAffinities": ("xy_offsets", "z_offsets", "append_label", "background", "ignore_index"),
    "RgbToLabel": (),
}

_GEOMETRIC = ("RandomFlip", "RandomRotate90", "RandomRotate", "ElasticDeformation", "CropToFixed")
_SUPPORTED_TARGETS = ("StandardLabelToBoundary", "BlobsToMask", "Relabel")
_UNSUPPORTED_TARGETS = (
    "RandomLabelToAffinities",
    "LabelToAffinities",
    "LabelToZAffinities",
    "LabelToBoundaryAndAffinities",
    "LabelToMaskAndAffinities",
    "RgbToLabel",
)
# options that only choose how one array is interpolated: they may differ between the lists of one transform
_INTERPOLATION = {"RandomRotate": ("order",), "ElasticDeformation": ("spline_order",)}
_PADDING = {"reflect": "reflection", "mirror": "reflection", "constant": "zeros", "nearest": "border", "wrap": None}
_DTYPES = {
    "float32": "$torch.float32",
    "float": "$torch.float32",
    "float64": "$torch.float64",
    "float16": "$torch.float16",
    "int64": "$torch.int64",
    "long": "$torch.int64",
    "int32": "$torch.int32",
    "int": "$torch.int64",
    "uint8": "$torch.uint8",
    "int16": "$torch.int16",
    "bool": "$torch.bool",
}
_SEED_ROTATION_AXES = [(1, 0), (2, 1), (2, 0)]


@dataclass
class _Entry:
    name: str
    options: dict[str, Any]
    array: str  # raw / label / weight
    where: str  # dotted key of the entry, for notes


@dataclass
class TransformChain:
    """The MONAI transforms of one phase (config dicts), what differs from pytorch-3dunet, and what the dataset must
    provide for them.

    Attributes:
        transforms: MONAI transform config dicts, in order.
        notes: keys without an exact equivalent.
        stats_percentiles: percentile ranks the per-volume statistics must hold (a ``PercentileNormalizer``), or
            None for the default ranks.
    """

    transforms: list[dict[str, Any]] = field(default_factory=list)
    notes: list[ConversionNote] = field(default_factory=list)
    stats_percentiles: tuple[float, float] | None = None


class _Builder:
    def __init__(
        self,
        where: str,
        source: str,
        spatial_dims: int,
        global_normalization: bool,
        spatial_size: str,
        crop_size: tuple[str, list[int]] | None,
    ) -> None:
        self.where = where
        self.source = source
        self.spatial_dims = spatial_dims
        self.global_normalization = global_normalization
        self.spatial_size = spatial_size
        self.crop_size = crop_size
        self.chain = TransformChain()
        self.dtypes: dict[str, str] = {}
        self.cropped = False
        self.geometric_converters = {
            "RandomFlip": self._random_flip,
            "RandomRotate90": self._random_rotate90,
            "RandomRotate": self._random_rotate,
            "ElasticDeformation": self._elastic_deformation,
            "CropToFixed": self._crop_to_fixed,
        }
        self.single_converters = {
            "Standardize": self._standardize,
            "PercentileNormalizer": self._percentile_normalizer,
            "Normalize": self._normalize,
            "GaussianBlur3D": self._gaussian_blur3d,
            "AdditiveGaussianNoise": self._additive_gaussian_noise,
            "AdditivePoissonNoise": self._additive_poisson_noise,
            "RandomContrast": self._random_contrast,
            "RandomGammaCorrection": self._random_gamma_correction,
            "StandardLabelToBoundary": self._standard_label_to_boundary,
            "BlobsToMask": self._blobs_to_mask,
            "Relabel": self._relabel,
            "ToTensor": self._to_tensor,
            "LabelToTensor": self._label_to_tensor,
            "Identity": self._identity,
        }

    def note(self, entry: _Entry, message: str) -> None:
        self.chain.notes.append(ConversionNote(entry.where, message))

    def error(self, entry: _Entry, message: str) -> ConfigKeyError:
        return ConfigKeyError(f"{self.source}: {entry.where}: {message}")

    def emit(self, target: str, keys: list[str], **options: Any) -> None:
        self.chain.transforms.append({"_target_": target, "keys": keys if len(keys) > 1 else keys[0], **options})

    # ---- geometry --------------------------------------------------------------------------------------------
    def geometric(self, entries: list[_Entry]) -> None:
        first = entries[0]
        keys = [ARRAY_KEYS[e.array] for e in entries]
        shared = [o for o in first.options if o not in _INTERPOLATION.get(first.name, ())]
        for other in entries[1:]:
            mine = {k: v for k, v in other.options.items() if k not in _INTERPOLATION.get(other.name, ())}
            if mine != {k: first.options[k] for k in shared}:
                self.note(other, f"uses the options of {first.where} so that every array moves alike.")
        self.geometric_converters[first.name](first, entries, keys)

    def _random_flip(self, entry: _Entry, entries: list[_Entry], keys: list[str]) -> None:
        prob = 1.0 - float(entry.options.get("axis_prob", 0.5))
        for axis in range(self.spatial_dims):
            self.emit("RandFlipd", keys, prob=prob, spatial_axis=axis)

    def _random_rotate90(self, entry: _Entry, entries: list[_Entry], keys: list[str]) -> None:
        axes = [1, 2] if self.spatial_dims == 3 else [0, 1]
        self.emit("RandRotate90d", keys, prob=0.75, max_k=3, spatial_axes=axes)

    def _random_rotate(self, entry: _Entry, entries: list[_Entry], keys: list[str]) -> None:
        angle = math.radians(float(entry.options.get("angle_spectrum", 30)))
        axes = entry.options.get("axes") or _SEED_ROTATION_AXES
        planes = set()
        for pair in axes:
            if not isinstance(pair, Sequence) or len(pair) != 2 or not all(a in (0, 1, 2) for a in pair):
                raise self.error(entry, f"axes must be pairs of the axes 0, 1, 2 (z, y, x), got {pair!r}.")
            planes.add(frozenset(pair))
        # MONAI's range_x rotates in the plane of spatial axes 1 and 2 (y, x), range_y of 0 and 2, range_z of 0 and 1
        names = {frozenset((1, 2)): "range_x", frozenset((0, 2)): "range_y", frozenset((0, 1)): "range_z"}
        ranges = {names[p]: angle for p in planes}
        if self.spatial_dims == 2:
            if frozenset((1, 2)) not in planes:
                self.note(entry, "2D images rotate in the (y, x) plane only; the rotation is left out.")
                return
            ranges = {"range_x": angle}
        elif len(planes) > 1:
            self.note(
                entry,
                "MONAI draws one angle for each plane and rotates in all of them at once, where "
                "pytorch-3dunet rotated in one randomly chosen plane.",
            )
        mode = entry.options.get("mode", "reflect")
        padding = _PADDING.get(mode, "missing")
        if padding == "missing":
            raise self.error(entry, f"unknown mode {mode!r}; valid: {', '.join(_PADDING)}.")
        if padding is None:
            padding = "reflection"
            self.note(entry, "mode 'wrap' has no equivalent in MONAI's rotation; the rotation pads by reflection.")
        self.emit(
            "RandRotated",
            keys,
            prob=1.0,
            keep_size=True,
            mode=[self._interpolation(e, "order", 0) for e in entries],
            padding_mode=padding,
            **ranges,
        )

    def _elastic_deformation(self, entry: _Entry, entries: list[_Entry], keys: list[str]) -> None:
        if "spline_order" not in entry.options:
            raise self.error(entry, "ElasticDeformation needs spline_order (3 for images, 0 for labels).")
        if self.spatial_dims == 2 and not self.cropped:
            self.note(
                entry,
                "whole 2D images of varying sizes cannot share one deformation grid; put a CropToFixed "
                "before it. The deformation is left out.",
            )
            return
        self.note(
            entry,
            "a smooth random deformation on a coarse 3-point grid (MONAI RandSmoothDeformd, displacement up to 10% "
            "of the patch) replaces pytorch-3dunet's per-voxel elastic field"
            + ("; alpha and sigma have no equivalent." if {"alpha", "sigma"} & set(entry.options) else "."),
        )
        if entry.options.get("apply_3d") is False:
            self.note(entry, "apply_3d false: the deformation also moves voxels along z.")
        size = self.crop_size[0] if self.spatial_dims == 2 and self.crop_size else self.spatial_size
        self.emit(
            "RandSmoothDeformd",
            keys,
            prob=float(entry.options.get("execution_probability", 0.1)),
            spatial_size=size,
            rand_size=[3] * self.spatial_dims,
            def_range=0.1,
            field_mode="trilinear" if self.spatial_dims == 3 else "bilinear",
            align_corners=True,
            grid_mode=[self._interpolation(e, "spline_order", 3) for e in entries],
        )

    def _crop_to_fixed(self, entry: _Entry, entries: list[_Entry], keys: list[str]) -> None:
        size = entry.options.get("size", [256, 256])
        if not isinstance(size, Sequence) or len(size) != 2:
            raise self.error(entry, f"size must be [y, x], got {size!r}.")
        size = [int(s) for s in size]
        shared = self.crop_size is not None and size == self.crop_size[1]
        reference = self.crop_size[0] if self.crop_size is not None else None
        if self.spatial_dims == 2:
            spatial: Any = reference if shared else size
        else:
            spatial = f"$[-1, *{reference}]" if shared else [-1, *size]
        if entry.options.get("centered", False):
            self.emit("ResizeWithPadOrCropd", keys, spatial_size=spatial, mode="symmetric")
        else:
            self.emit("RandSpatialCropd", keys, roi_size=spatial, random_size=False)
            self.emit("SpatialPadd", keys, spatial_size=spatial, mode="symmetric")
        self.cropped = True

    def _interpolation(self, entry: _Entry, option: str, default: int) -> str:
        order = int(entry.options.get(option, default))
        if order > 1:
            self.note(entry, f"{option} {order} is approximated by linear interpolation.")
        return "nearest" if order == 0 else "bilinear"

    # ---- one array at a time -----------------------------------------------------------------------------------
    def single(self, entry: _Entry) -> None:
        key = [ARRAY_KEYS[entry.array]]
        name, options = entry.name, entry.options
        if name in _UNSUPPORTED_TARGETS:
            raise self.error(
                entry,
                f"{name} has no equivalent here (it defines the training target); supported target transforms: "
                f"{', '.join(_SUPPORTED_TARGETS)}.",
            )
        self.single_converters[name](entry, key, options)

    def _standardize(self, entry: _Entry, key: list[str], options: dict) -> None:
        eps = float(options.get("eps", 1e-10))
        if options.get("mean") is not None or options.get("std") is not None:
            if options.get("mean") is None or options.get("std") is None:
                raise self.error(entry, "Standardize needs both mean and std, or neither.")
            self.emit("NormalizeIntensityd", key, subtrahend=float(options["mean"]), divisor=float(options["std"]))
            return
        if options.get("channelwise") and not self.global_normalization:
            self.emit("NormalizeIntensityd", key, channel_wise=True)
            return
        if options.get("channelwise"):
            self.note(entry, "channelwise is ignored with global_normalization, as pytorch-3dunet did.")
        self._normalized(key, "standardize", eps=eps)

    def _percentile_normalizer(self, entry: _Entry, key: list[str], options: dict) -> None:
        ranks = (float(options.get("pmin", 1.0)), float(options.get("pmax", 99.6)))
        if options.get("channelwise"):
            self.note(entry, "channelwise has no equivalent: all channels share the percentiles.")
        self.chain.stats_percentiles = ranks
        self._normalized(key, "percentile", eps=float(options.get("eps", 1e-10)), percentiles=list(ranks))

    def _normalized(self, key: list[str], mode: str, **options: Any) -> None:
        # samples carry "image_stats" only with global normalisation; without, each sample uses its own statistics
        self.emit("unet3d_monai.data.Normalized", key, mode=mode, stats_key="image_stats", **options)

    def _normalize(self, entry: _Entry, key: list[str], options: dict) -> None:
        low = 0.0 if options.get("norm01", False) else -1.0
        lo, hi = options.get("min_value"), options.get("max_value")
        if lo is not None and hi is not None:
            self.emit("ScaleIntensityRanged", key, a_min=float(lo), a_max=float(hi), b_min=low, b_max=1.0, clip=True)
        else:
            if lo is not None or hi is not None:
                self.note(entry, "min_value and max_value are used only together; the patch's own range is used.")
            self.emit("ScaleIntensityd", key, minv=low, maxv=1.0)

    def _gaussian_blur3d(self, entry: _Entry, key: list[str], options: dict) -> None:
        sigma = [float(s) for s in options.get("sigma", (0.1, 2.0))]
        axes = {"sigma_x": sigma, "sigma_y": sigma}
        if self.spatial_dims == 3:
            axes["sigma_z"] = sigma
        self.note(entry, "MONAI draws one sigma per axis; pytorch-3dunet drew one sigma for all axes.")
        self.emit("RandGaussianSmoothd", key, prob=float(options.get("execution_probability", 0.5)), **axes)

    def _additive_gaussian_noise(self, entry: _Entry, key: list[str], options: dict) -> None:
        scale = [float(s) for s in options.get("scale", (0.0, 1.0))]
        if scale[0] != 0.0:
            self.note(entry, f"the noise std is drawn from (0, {scale[1]}); MONAI has no lower bound {scale[0]}.")
        prob = float(options.get("execution_probability", 0.1))
        self.emit("RandGaussianNoised", key, prob=prob, mean=0.0, std=scale[1], sample_std=True)

    def _additive_poisson_noise(self, entry: _Entry, key: list[str], options: dict) -> None:
        lam = [float(v) for v in options.get("lam", (0.0, 1.0))]
        prob = float(options.get("execution_probability", 0.1))
        self.emit("unet3d_monai.data.transforms.RandAdditivePoissonNoised", key, prob=prob, lam=lam)

    def _random_contrast(self, entry: _Entry, key: list[str], options: dict) -> None:
        alpha = [float(a) for a in options.get("alpha", (0.5, 1.5))]
        unmapped = "; mean has no equivalent." if options.get("mean") else "."
        self.note(entry, f"scaled around 0 (RandScaleIntensityd), not clipped to [-1, 1]{unmapped}")
        prob = float(options.get("execution_probability", 0.1))
        self.emit("RandScaleIntensityd", key, prob=prob, factors=[alpha[0] - 1.0, alpha[1] - 1.0])

    def _random_gamma_correction(self, entry: _Entry, key: list[str], options: dict) -> None:
        gamma = [float(g) for g in options.get("gamma", (0.5, 1.5))]
        self.note(entry, "MONAI's gamma keeps the intensity range; pytorch-3dunet rescaled to [0, 1] first.")
        prob = float(options.get("execution_probability", 0.1))
        self.emit("RandAdjustContrastd", key, prob=prob, gamma=gamma)

    def _standard_label_to_boundary(self, entry: _Entry, key: list[str], options: dict) -> None:
        self.emit(
            "unet3d_monai.data.transforms.LabelToBoundaryd",
            key,
            ignore_index=options.get("ignore_index"),
            append_label=bool(options.get("append_label", False)),
            mode=options.get("mode", "thick"),
            foreground=bool(options.get("foreground", False)),
        )

    def _blobs_to_mask(self, entry: _Entry, key: list[str], options: dict) -> None:
        if options.get("cross_entropy") and options.get("boundary"):
            raise self.error(
                entry,
                "BlobsToMask with boundary and cross_entropy (a 3-class target) has no "
                "equivalent; use boundary without cross_entropy.",
            )
        if "cross_entropy" in options:
            self.note(entry, "cross_entropy only mattered with boundary true; it has no effect.")
        self.emit(
            "unet3d_monai.data.transforms.BlobsToMaskd",
            key,
            append_label=bool(options.get("append_label", False)),
            boundary=bool(options.get("boundary", False)),
        )

    def _relabel(self, entry: _Entry, key: list[str], options: dict) -> None:
        if options.get("append_original"):
            raise self.error(entry, "Relabel append_original has no equivalent; remove it.")
        ignore = options.get("ignore_label")
        self.emit(
            "unet3d_monai.data.transforms.Relabeld",
            key,
            run_cc=bool(options.get("run_cc", True)),
            background=0 if ignore is None else int(ignore),
        )

    def _to_tensor(self, entry: _Entry, key: list[str], options: dict) -> None:
        if "expand_dims" not in options:
            raise self.error(entry, "ToTensor needs expand_dims (true for raw, false for labels with channels).")
        if options.get("normalize"):
            self.emit("ScaleIntensityd", key, minv=0.0, maxv=1.0)
        dtype = str(options.get("dtype", "float32")).removeprefix("np.").removeprefix("torch.")
        if dtype not in _DTYPES:
            raise self.error(entry, f"unknown dtype {dtype!r}; valid: {', '.join(_DTYPES)}.")
        self.dtypes[key[0]] = _DTYPES[dtype]

    def _label_to_tensor(self, entry: _Entry, key: list[str], options: dict) -> None:
        self.dtypes[key[0]] = "$torch.int64"

    def _identity(self, entry: _Entry, key: list[str], options: dict) -> None:
        return


def _entries(transformer: Mapping, where: str, source: str) -> dict[str, list[_Entry]]:
    check_keys(transformer, ARRAY_KEYS, where, source)
    lists: dict[str, list[_Entry]] = {}
    for array, items in transformer.items():
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ConfigKeyError(f"{source}: {where}.{array} must be a list of transforms, got {items!r}.")
        entries = []
        for index, item in enumerate(items):
            at = f"{where}.{array}[{index}]"
            if not isinstance(item, Mapping) or "name" not in item:
                raise ConfigKeyError(f"{source}: {at} must be a mapping with a 'name', got {item!r}.")
            name = check_name(item["name"], SEED_TRANSFORM_OPTIONS, f"transform name at {at}", source)
            options = {k: v for k, v in item.items() if k != "name"}
            check_keys(options, SEED_TRANSFORM_OPTIONS[name], f"{at}.{name}", source)
            entries.append(_Entry(name, options, array, f"{at}.{name}"))
        lists[array] = entries
    return lists


def convert_transformer(
    transformer: Mapping,
    where: str,
    source: str,
    spatial_dims: int,
    global_normalization: bool,
    spatial_size: str = "@patch_size",
    crop_size: tuple[str, list[int]] | None = None,
    squeeze_z: bool = False,
) -> TransformChain:
    """Convert a phase's ``transformer`` mapping (``raw``/``label``/``weight`` lists) into a MONAI chain.

    Args:
        transformer: the YAML mapping, e.g. ``{"raw": [{"name": "Standardize"}, ...], "label": [...]}``.
        where: its dotted key (``"loaders.train.transformer"``), for notes and errors.
        source: the file name, for errors.
        spatial_dims: spatial dimensions of the samples the chain receives (3 for patches, 2 for whole 2D images).
        global_normalization: whether samples carry whole-volume statistics under ``"image_stats"``.
        spatial_size: config reference of the samples' spatial size (for the deformation grid).
        crop_size: a config reference and the size it holds (``("@crop_size", [256, 256])``), used by every
            ``CropToFixed`` of that size.
        squeeze_z: drop the singleton z axis at the end (3D patches ``(C, 1, Y, X)`` for a 2D network).

    Returns:
        the chain: transforms ending with ``EnsureTyped`` for every array, notes, and dataset requirements.

    Raises:
        ConfigKeyError: an unknown transform or option (with the closest names), or a transform whose target has no
            equivalent.
    """
    builder = _Builder(where, source, spatial_dims, global_normalization, spatial_size, crop_size)
    lists = _entries(transformer, where, source)
    order = [a for a in ("raw", "label", "weight") if a in lists]
    # the geometric transforms of the raw list (else the first list) are the spine the other lists align to
    spine_array = order[0] if order else "raw"
    spine = [e for e in lists.get(spine_array, []) if e.name in _GEOMETRIC]
    positions: dict[str, list[int]] = {}  # array -> index in its list of the entry matched to spine step i
    for array in order:
        matched, cursor = [], 0
        for step in spine:
            found = next(
                (i for i in range(cursor, len(lists[array])) if lists[array][i].name == step.name),
                None,
            )
            matched.append(found)
            if found is not None:
                cursor = found + 1
        positions[array] = matched
    done: dict[str, int] = dict.fromkeys(order, 0)

    def flush(array: str, stop: int) -> None:
        for entry in lists[array][done[array] : stop]:
            if entry.name in _GEOMETRIC:
                others = " and ".join(a for a in order if a != array) or "other"
                builder.note(entry, f"has no counterpart in the {others} list of {where}: it moves {array} alone.")
                builder.geometric([entry])
            else:
                builder.single(entry)
        done[array] = max(done[array], stop)

    for step_index, _ in enumerate(spine):
        group = []
        for array in order:
            index = positions[array][step_index]
            if index is None:
                continue
            flush(array, index)
            group.append(lists[array][index])
            done[array] = index + 1
        missing = [a for a in order if positions[a][step_index] is None]
        if missing:
            builder.note(
                group[0],
                f"has no counterpart in the {' and '.join(missing)} list of {where}: it does not "
                f"move {' and '.join(missing)}.",
            )
        builder.geometric(group)
    for array in order:
        flush(array, len(lists[array]))
    keys = [ARRAY_KEYS[a] for a in order]
    if squeeze_z and keys:
        builder.emit("SqueezeDimd", keys, dim=1)
    for key in keys:
        builder.emit("EnsureTyped", [key], dtype=builder.dtypes.get(key, "$torch.float32"), track_meta=False)
    return builder.chain


def prediction_normalization(
    raw: Sequence[Mapping] | None, where: str, source: str, global_normalization: bool
) -> tuple[str, float, float, list[ConversionNote]]:
    """How the prediction bundle normalises each volume, from a test ``transformer.raw`` list.

    ``where`` is the dotted key of the transformer (``"loaders.test.transformer"``).

    Returns:
        ``(mode, input_scale, input_offset, notes)``: a :class:`~unet3d_monai.data.Normalize` mode for the whole
        volume, then the affine ``x * input_scale + input_offset`` applied before the network (``Normalize`` to
        ``[-1, 1]`` is ``"minmax"`` followed by ``2 x - 1``).
    """
    entries = _entries({"raw": list(raw or [])}, where, source).get("raw", [])
    mode, scale, offset, notes = "none", 1.0, 0.0, []
    scope = "each whole volume" if global_normalization else "each whole volume (pytorch-3dunet: each patch)"
    for entry in entries:
        if entry.name == "Standardize":
            if entry.options.get("mean") is not None:
                notes.append(ConversionNote(entry.where, f"fixed mean/std are replaced by the statistics of {scope}."))
            mode = "standardize"
        elif entry.name == "PercentileNormalizer":
            if (entry.options.get("pmin", 1.0), entry.options.get("pmax", 99.6)) != (1.0, 99.6):
                notes.append(ConversionNote(entry.where, "prediction uses the percentiles 1 and 99.6."))
            mode = "percentile"
        elif entry.name == "Normalize":
            if entry.options.get("min_value") is not None or entry.options.get("max_value") is not None:
                notes.append(ConversionNote(entry.where, f"fixed min/max are replaced by the range of {scope}."))
            mode = "minmax"
            if not entry.options.get("norm01", False):
                scale, offset = 2.0, -1.0
        elif entry.name in ("ToTensor", "Identity"):
            continue
        else:
            notes.append(ConversionNote(entry.where, "not applied at prediction."))
    if not global_normalization and mode != "none":
        notes.append(ConversionNote(f"{where}.raw", f"prediction normalises {scope}."))
    return mode, scale, offset, notes
