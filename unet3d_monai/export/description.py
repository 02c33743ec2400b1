"""The bioimage.io model description (``rdf.yaml``) of an exported network, built and validated with
``bioimageio.spec`` (format 0.5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from unet3d_monai.compat.bioimageio import RECORD_KEY
from unet3d_monai.data.stats import DEFAULT_PERCENTILES
from unet3d_monai.export.architecture import NETWORKS_MODULE, network_definition
from unet3d_monai.export.model import ExportedModel

__all__ = ["CITATIONS", "INPUT_ID", "OUTPUT_ID", "PackageFiles", "bioimageio_spec", "model_description", "model_name"]

#: (text, DOI) of the works every package cites; the residual networks add Lee et al. 2017
CITATIONS = (
    (
        "Çiçek, Abdulkadir, Lienkamp, Brox, Ronneberger: 3D U-Net: Learning Dense Volumetric Segmentation from Sparse "
        "Annotation. MICCAI 2016.",
        "10.1007/978-3-319-46723-8_49",
    ),
    (
        "Wolny et al.: Accurate and versatile 3D segmentation of plant tissues at cellular resolution. eLife 2020 "
        "(pytorch-3dunet).",
        "10.7554/eLife.57613",
    ),
)
_RESIDUAL_CITATION = (
    "Lee, Zung, Li, Jain, Seung: Superhuman Accuracy on the SNEMI3D Connectomics Challenge. arXiv 2017.",
    "10.48550/arXiv.1706.00120",
)
# a GitHub user name would be checked online by bioimageio.spec, so authors carry none
_AUTHOR_KEYS = ("name", "affiliation", "email", "orcid")
INPUT_ID, OUTPUT_ID = "raw", "prediction"


def bioimageio_spec():
    """The ``bioimageio.spec.model.v0_5`` module, or ImportError with the install command."""
    try:
        from bioimageio.spec.model import v0_5
    except ImportError as error:
        raise ImportError(
            'Exporting to bioimage.io needs bioimageio.spec: pip install "unet3d-monai[bioimageio]".'
        ) from error
    return v0_5


@dataclass(frozen=True)
class PackageFiles:
    """The files a package holds, written beforehand (absolute paths)."""

    weights: Path
    torchscript: Path
    environment: Path
    test_input: Path
    test_output: Path
    sample_input: Path
    sample_output: Path
    cover: Path
    documentation: Path


def _channel_names(channel_def: object, count: int) -> list[str]:
    """Channel names from a MONAI ``channel_def`` (``{"0": "boundary probability"}``) when it names ``count``
    channels."""
    if isinstance(channel_def, Mapping) and sorted(channel_def) == [str(i) for i in range(count)]:
        names = [
            str(channel_def[str(i)]).replace(" probability", "").replace(" logits", "").strip().replace(" ", "_")
            for i in range(count)
        ]
        if all(name.isidentifier() for name in names) and len(set(names)) == count:
            return names
    return [f"channel{i}" for i in range(count)]


def model_name(meta: Mapping, model: ExportedModel) -> str:
    """The bundle's name, limited to the characters bioimage.io accepts (letters, digits, ``_+- ()``)."""
    name = str(meta.get("name") or f"{type(model.network).__name__} {model.task or ''}".strip())
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+- ()")
    cleaned = " ".join("".join(c if c in allowed else " " for c in name).split())
    return cleaned if len(cleaned) >= 5 else f"{cleaned} model"


def _authors(authors: Sequence[str | Mapping[str, str]] | None, meta: Mapping, v0_5) -> list:
    if authors is None:
        authors = [str(meta.get("authors") or "unet3d-monai contributors")]
    if isinstance(authors, (str, Mapping)):
        authors = [authors]
    result = []
    for author in authors:
        entry = {"name": author} if isinstance(author, str) else dict(author)
        unknown = sorted(set(entry) - set(_AUTHOR_KEYS))
        if unknown or not isinstance(entry.get("name"), str):
            raise ValueError(f"each author must be a name or a mapping with the keys {_AUTHOR_KEYS}, got {author!r}.")
        result.append(v0_5.Author(**entry))
    if not result:
        raise ValueError("a bioimage.io model needs at least one author.")
    return result


def _processing(model: ExportedModel, v0_5) -> tuple[list, list]:
    """Pre-processing (dtype, then the bundle's normalisation) and post-processing (the final activation)."""
    float32 = v0_5.EnsureDtypeDescr(kwargs=v0_5.EnsureDtypeKwargs(dtype="float32"))
    # statistics over all channels and spatial axes of each image, as Normalize computes them per volume
    axes = [v0_5.AxisId(axis) for axis in ("channel", *model.axes)]
    pre = [float32]
    if model.normalization == "standardize":
        pre.append(v0_5.ZeroMeanUnitVarianceDescr(kwargs=v0_5.ZeroMeanUnitVarianceKwargs(axes=axes)))
    elif model.normalization in ("percentile", "minmax"):
        low, high = DEFAULT_PERCENTILES if model.normalization == "percentile" else (0.0, 100.0)
        pre.append(
            v0_5.ScaleRangeDescr(kwargs=v0_5.ScaleRangeKwargs(axes=axes, min_percentile=low, max_percentile=high))
        )
    post = []
    if model.final_activation == "sigmoid":
        post.append(v0_5.SigmoidDescr())
    elif model.final_activation == "softmax":
        post.append(v0_5.SoftmaxDescr(kwargs=v0_5.SoftmaxKwargs(axis=v0_5.AxisId("channel"))))
    return pre, [*post, float32]


def model_description(
    model: ExportedModel,
    files: PackageFiles,
    meta: Mapping,
    authors: Sequence[str | Mapping[str, str]] | None = None,
    tags: Sequence[str] = (),
    license: str = "MIT",
):
    """The validated ``bioimageio.spec`` ``ModelDescr`` of ``model`` with the package's ``files``.

    Args:
        model: the network and how it was trained.
        files: the package's files.
        meta: the bundle's ``metadata.json`` (name, description, authors, channel names), or ``{}``.
        authors: names or mappings (``name``, ``affiliation``, ``email``, ``orcid``); None: the bundle's authors.
        tags: tags added to those derived from the network.
        license: an SPDX license identifier.

    Raises:
        ImportError: ``bioimageio.spec`` is not installed.
        ValueError: an invalid license, author or other field (one sentence).
    """
    v0_5 = bioimageio_spec()
    try:
        license_id = v0_5.LicenseId(license)
    except ValueError as error:
        raise ValueError(f"license {license!r} is not an SPDX identifier bioimage.io knows (e.g. MIT).") from error
    network = model.network
    arguments = network_definition(network)
    class_name = arguments.pop("_target_").rsplit(".", 1)[-1]
    torch_version = v0_5.Version(torch.__version__.split("+")[0])
    data_format = meta.get("network_data_format") if isinstance(meta.get("network_data_format"), Mapping) else {}
    input_def = data_format.get("inputs", {}).get("image", {}).get("channel_def")
    output_def = data_format.get("outputs", {}).get("pred", {}).get("channel_def")
    pre, post = _processing(model, v0_5)
    citations = [*CITATIONS, *([_RESIDUAL_CITATION] if class_name.startswith("Residual") else [])]
    derived_tags = ["unet", f"{network.spatial_dims}d", "pytorch", "monai", "unet3d-monai", "pytorch-3dunet"]
    derived_tags.append("segmentation" if model.probabilities else "regression")
    space_in = [
        v0_5.SpaceInputAxis(id=v0_5.AxisId(axis), size=v0_5.ParameterizedSize(min=size, step=step))
        for axis, size, step in zip(model.axes, model.patch_size, model.step)
    ]
    space_out = [
        v0_5.SpaceOutputAxisWithHalo(
            id=v0_5.AxisId(axis),
            size=v0_5.SizeReference(tensor_id=v0_5.TensorId(INPUT_ID), axis_id=v0_5.AxisId(axis)),
            halo=halo,
        )
        for axis, halo in zip(model.axes, model.halo)
    ]
    try:
        return v0_5.ModelDescr(
            name=model_name(meta, model),
            description=str(meta.get("description") or f"{class_name} exported by unet3d-monai."),
            authors=_authors(authors, meta, v0_5),
            cite=[v0_5.CiteEntry(text=text, doi=v0_5.Doi(doi)) for text, doi in citations],
            license=license_id,
            tags=list(dict.fromkeys([*derived_tags, *(str(tag) for tag in tags)])),
            documentation=v0_5.FileDescr(source=files.documentation),
            covers=[v0_5.FileDescr(source=files.cover)],
            inputs=[
                v0_5.InputTensorDescr(
                    id=v0_5.TensorId(INPUT_ID),
                    description=f"raw intensities; the package applies the {model.normalization} normalisation",
                    axes=[
                        v0_5.BatchAxis(),
                        v0_5.ChannelAxis(channel_names=_channel_names(input_def, network.in_channels)),
                        *space_in,
                    ],
                    test_tensor=v0_5.FileDescr(source=files.test_input),
                    sample_tensor=v0_5.FileDescr(source=files.sample_input),
                    data=v0_5.IntervalOrRatioDataDescr(type="float32"),
                    preprocessing=pre,
                )
            ],
            outputs=[
                v0_5.OutputTensorDescr(
                    id=v0_5.TensorId(OUTPUT_ID),
                    description=(
                        f"{model.final_activation} of the network's logits" if model.probabilities else "regression"
                    ),
                    axes=[
                        v0_5.BatchAxis(),
                        v0_5.ChannelAxis(channel_names=_channel_names(output_def, network.out_channels)),
                        *space_out,
                    ],
                    test_tensor=v0_5.FileDescr(source=files.test_output),
                    sample_tensor=v0_5.FileDescr(source=files.sample_output),
                    data=v0_5.IntervalOrRatioDataDescr(
                        type="float32", range=(0.0, 1.0) if model.probabilities else (None, None)
                    ),
                    postprocessing=post,
                )
            ],
            weights=v0_5.WeightsDescr(
                pytorch_state_dict=v0_5.PytorchStateDictWeightsDescr(
                    source=files.weights,
                    architecture=v0_5.ArchitectureFromLibraryDescr(
                        callable=v0_5.Identifier(class_name), import_from=NETWORKS_MODULE, kwargs=arguments
                    ),
                    pytorch_version=torch_version,
                    dependencies=v0_5.FileDescr(source=files.environment),
                ),
                torchscript=v0_5.TorchscriptWeightsDescr(
                    source=files.torchscript, pytorch_version=torch_version, parent="pytorch_state_dict"
                ),
            ),
            config=v0_5.Config(**{RECORD_KEY: model.record()}),
        )
    except ValueError as error:  # pydantic's ValidationError: what the bioimage.io format refused
        raise ValueError(f"the bioimage.io model description is invalid: {error}") from error
