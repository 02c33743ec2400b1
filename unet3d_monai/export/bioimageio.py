"""Export a trained network as a bioimage.io model package (format 0.5) that the bioimage.io tools run.

The package holds ``rdf.yaml``, the weights as ``pytorch_state_dict`` (architecture imported from
``unet3d_monai.networks`` with its arguments) and as ``torchscript``, a test input (a window of the bundle's
synthetic sample data) with the network's output on it, a cover image made from them, the documentation, and the
training record under ``config.unet3d_monai``. Pre-processing is the bundle's normalisation, post-processing the
network's final activation (the networks return logits).

Writing a package needs ``bioimageio.spec`` (``pip install "unet3d-monai[bioimageio]"``); reading one does not
(:func:`unet3d_monai.compat.read_bioimageio_package`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import yaml

from unet3d_monai.compat import is_bioimageio_package, load_network_weights, read_bioimageio_package
from unet3d_monai.data.normalize import Normalize, NormalizeMode
from unet3d_monai.data.sample import TASKS, generate_volume
from unet3d_monai.data.stats import DEFAULT_PERCENTILES
from unet3d_monai.export.architecture import NETWORKS_MODULE, network_definition, network_from_definition
from unet3d_monai.export.cover import cover_image, save_cover
from unet3d_monai.export.documentation import package_documentation
from unet3d_monai.networks.unet import UNetBase

__all__ = ["CITATIONS", "FINAL_ACTIVATIONS", "RECORD_FILE", "export_bioimageio", "training_record"]

#: the training record written by training beside the best weights (``<ckpt_dir>/model.json``)
RECORD_FILE = "model.json"
#: final activations a record may name
FINAL_ACTIVATIONS = ("sigmoid", "softmax", "identity")
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
_AUTHOR_KEYS = ("name", "affiliation", "email", "orcid")
_INPUT_ID, _OUTPUT_ID = "raw", "prediction"
_HALO_FRACTION = 8  # the halo is 1/8 of the training patch on each side

logger = logging.getLogger(__name__)


def _bioimageio_v0_5():
    """The bioimage.io model description classes, or ImportError with the install command."""
    try:
        from bioimageio.spec.model import v0_5
    except ImportError as error:
        raise ImportError(
            'Exporting to bioimage.io needs bioimageio.spec: pip install "unet3d-monai[bioimageio]".'
        ) from error
    return v0_5


def training_record(ckpt_path: str | os.PathLike) -> dict | None:
    """The training record of the weights at ``ckpt_path``, or None when there is none.

    The record is ``model.json`` beside the weights (written by training next to ``model.pt``), or, for a
    bioimage.io package made by :func:`export_bioimageio`, the copy under its ``config.unet3d_monai``.

    Raises:
        ValueError: ``model.json`` is not a JSON object.
    """
    ckpt_path = Path(ckpt_path)
    if is_bioimageio_package(ckpt_path):
        return read_bioimageio_package(ckpt_path).record
    record_path = ckpt_path.with_name(RECORD_FILE)
    if not record_path.is_file():
        return None
    try:
        record = json.loads(record_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{record_path} is not valid JSON ({error}).") from error
    if not isinstance(record, dict):
        raise ValueError(f"{record_path} must hold a JSON object, found {type(record).__name__}.")
    return record


@dataclass(frozen=True)
class _Model:
    """What the package describes: the network and how it was trained."""

    network: UNetBase
    patch_size: tuple[int, ...]
    normalization: str
    final_activation: str
    task: str | None
    from_record: bool

    @property
    def axes(self) -> tuple[str, ...]:
        return ("z", "y", "x")[-self.network.spatial_dims :]

    @property
    def step(self) -> tuple[int, ...]:
        """Input size increment per axis: the product of the pooling kernels over the network's levels."""
        levels = len(self.network.f_maps)
        return tuple(int(pool) ** (levels - 1) for pool in self.network.arguments["pool_kernel_size"])

    @property
    def halo(self) -> tuple[int, ...]:
        return tuple(size // _HALO_FRACTION for size in self.patch_size)

    def record(self) -> dict:
        """The training record (the ``model.json`` form) of the packaged network."""
        return {
            "network": network_definition(self.network),
            "spatial_dims": self.network.spatial_dims,
            "patch_size": list(self.patch_size),
            "normalization": self.normalization,
            "final_activation": self.final_activation,
            "task": self.task,
        }


def _activation_of(network: UNetBase) -> str:
    if isinstance(network.final_activation, nn.Sigmoid):
        return "sigmoid"
    if isinstance(network.final_activation, nn.Softmax):
        return "softmax"
    return "identity"


def _patch(patch_size: Sequence[int] | None, network: UNetBase, source: str) -> tuple[int, ...]:
    if patch_size is None:
        raise ValueError(f"{source} gives no patch_size: pass the training patch (the package's smallest input).")
    values = [patch_size] if isinstance(patch_size, int) else list(patch_size)
    if network.spatial_dims == 2 and len(values) == 3 and values[0] == 1:
        values = values[1:]  # a 2D patch stored with a singleton z
    if len(values) != network.spatial_dims or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(
            f"patch_size from {source} must be {network.spatial_dims} ints for {type(network).__name__}, "
            f"got {patch_size!r}."
        )
    if any(v < m for v, m in zip(values, network.min_input_size)):
        raise ValueError(
            f"patch_size {values} from {source} is smaller than the smallest input of {type(network).__name__} "
            f"({network.min_input_size})."
        )
    return tuple(values)


def _resolve_model(
    record: Mapping | None,
    network: nn.Module | None,
    patch_size: Sequence[int] | None,
    normalization: str | None,
    task: str | None,
    record_source: str,
) -> _Model:
    """The network, patch and normalisation: from the training record when there is one, else from the arguments."""
    if record is not None:
        definition = record.get("network")
        if not isinstance(definition, Mapping):
            raise ValueError(f"{record_source} has no 'network' object naming the architecture.")
        built = network_from_definition(definition, record_source)
        patch_size = record.get("patch_size", patch_size)
        normalization = record.get("normalization", normalization)
        activation = record.get("final_activation", _activation_of(built))
        task = task or record.get("task")
        source = record_source
    else:
        if network is None:
            raise ValueError("no network given and no training record beside the weights: pass network=...")
        while isinstance(network, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            network = network.module
        network_definition(network)  # refuses networks from elsewhere
        built, activation, source = network, _activation_of(network), "the arguments"
    if activation not in FINAL_ACTIVATIONS:
        raise ValueError(f"final_activation from {source} must be one of {FINAL_ACTIVATIONS}, got {activation!r}.")
    modes = [mode.value for mode in NormalizeMode]
    if normalization not in modes:
        raise ValueError(f"normalization from {source} must be one of {modes}, got {normalization!r}.")
    return _Model(
        network=built,
        patch_size=_patch(patch_size, built, source),
        normalization=normalization,
        final_activation=activation,
        task=task,
        from_record=record is not None,
    )


def _test_window(model: _Model, test_input: np.ndarray | None, task: str | None) -> tuple[np.ndarray, str]:
    """The test input ``(1, C, *patch)`` float32 and a phrase saying what it is."""
    network, patch = model.network, model.patch_size
    if test_input is None:
        if task not in TASKS:
            raise ValueError(
                f"the test input comes from the synthetic sample data of a task, one of {sorted(TASKS)}; got task "
                f"{task!r}: pass sample_task or test_input."
            )
        if network.in_channels != 1:
            raise ValueError(
                f"the synthetic sample data have one channel but the network takes {network.in_channels}: pass "
                "test_input, an array (C, *spatial) of raw intensities."
            )
        raw, _ = generate_volume(task, shape=(1, *patch) if len(patch) == 2 else patch, seed=0, split="test")
        window = raw.reshape(1, 1, *patch)
        return window.astype(np.float32), f"a {'x'.join(map(str, patch))} volume of the synthetic '{task}' sample data"
    array = np.asarray(test_input, dtype=np.float32)
    if array.ndim == len(patch):
        array = array[None]
    if array.ndim != len(patch) + 1 or array.shape[0] != network.in_channels:
        raise ValueError(
            f"test_input must be (C, *spatial) with C = {network.in_channels} and {len(patch)} spatial axes, got shape "
            f"{np.shape(test_input)}."
        )
    if any(s < p for s, p in zip(array.shape[1:], patch)):
        raise ValueError(f"test_input of shape {np.shape(test_input)} is smaller than the patch {list(patch)}.")
    start = [(s - p) // 2 for s, p in zip(array.shape[1:], patch)]
    window = array[(slice(None), *(slice(b, b + p) for b, p in zip(start, patch)))]
    return window[None].copy(), f"the central {'x'.join(map(str, patch))} window of the image given to the export"


def _predict(network: nn.Module, window: np.ndarray, model: _Model) -> np.ndarray:
    """What the package computes: normalise, run the network, apply the final activation."""
    normalized = Normalize(model.normalization, percentiles=DEFAULT_PERCENTILES)(window)
    with torch.no_grad():
        logits = network(torch.from_numpy(np.ascontiguousarray(normalized)))
    if model.final_activation == "sigmoid":
        logits = torch.sigmoid(logits)
    elif model.final_activation == "softmax":
        logits = torch.softmax(logits, dim=1)
    return logits.numpy().astype(np.float32)


def _torchscript(network: nn.Module, window: np.ndarray, path: Path) -> Path:
    """Script ``network``, check it returns the same logits on ``window``, and save it to ``path``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)
        scripted = torch.jit.script(network)
        with torch.no_grad():
            expected = network(torch.from_numpy(window))
            actual = scripted(torch.from_numpy(window))
        if not torch.allclose(expected, actual, rtol=1e-4, atol=1e-5):
            raise RuntimeError(f"the TorchScript version of {type(network).__name__} does not reproduce its output.")
        torch.jit.save(scripted, str(path))
    return path


def _read_bundle(bundle_dir: str | os.PathLike | None) -> tuple[dict, str | None]:
    """The bundle's ``metadata.json`` (a dict, empty without a bundle) and its README text (or None)."""
    if bundle_dir is None:
        return {}, None
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise FileNotFoundError(f"bundle folder {bundle_dir} does not exist.")
    metadata_path, readme_path = bundle_dir / "metadata.json", bundle_dir / "README.md"
    try:
        meta = json.loads(metadata_path.read_text()) if metadata_path.is_file() else {}
    except json.JSONDecodeError as error:
        raise ValueError(f"{metadata_path} is not valid JSON ({error}).") from error
    return (meta if isinstance(meta, dict) else {}), (readme_path.read_text() if readme_path.is_file() else None)


def _channel_names(channel_def: object, count: int, fallback: str) -> list[str]:
    """Channel names from a MONAI ``channel_def`` (``{"0": "boundary logits"}``) when it names ``count`` channels."""
    if isinstance(channel_def, Mapping) and sorted(channel_def) == [str(i) for i in range(count)]:
        names = [str(channel_def[str(i)]).replace(" logits", "").strip().replace(" ", "_") for i in range(count)]
        if all(name.isidentifier() for name in names) and len(set(names)) == count:
            return names
    return [f"{fallback}{i}" for i in range(count)]


def _model_name(meta: Mapping, network: UNetBase, task: str | None) -> str:
    name = str(meta.get("name") or f"{type(network).__name__} {task or ''}".strip())
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


def _check_output(output: str | os.PathLike, overwrite: bool) -> Path:
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; pass overwrite=True (--overwrite true) to replace it.")
    if output.exists() and output.suffix == ".zip" and not output.is_file():
        raise FileExistsError(f"{output} is a folder, not a zip archive it could replace.")
    output.parent.mkdir(parents=True, exist_ok=True)
    return output


def _move_into_place(staged: Path, output: Path) -> None:
    """Replace ``output`` by ``staged`` (a file or a folder in the same folder)."""
    if staged.is_file():
        os.replace(staged, output)
        return
    previous = output.with_name(f".{output.name}.{os.getpid()}.previous")
    if output.exists():
        os.replace(output, previous)
    os.replace(staged, output)
    if previous.is_dir():
        shutil.rmtree(previous)
    elif previous.exists():
        previous.unlink()


def export_bioimageio(
    output: str | os.PathLike,
    ckpt_path: str | os.PathLike,
    network: nn.Module | None = None,
    patch_size: Sequence[int] | None = None,
    normalization: str | None = None,
    sample_task: str | None = None,
    bundle_dir: str | os.PathLike | None = None,
    authors: Sequence[str | Mapping[str, str]] | None = None,
    tags: Sequence[str] = (),
    license: str = "MIT",
    test_input: np.ndarray | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the weights at ``ckpt_path`` as a bioimage.io model package.

    The network, training patch, normalisation and final activation come from the training record beside the
    weights (``model.json``) when there is one, otherwise from ``network``, ``patch_size`` and ``normalization``
    (and the network's ``final_activation``). The package's input accepts the patch and any size larger by
    multiples of the network's pooling (``2 ** (levels - 1)`` per axis with the default pooling); axes are
    ``batch, channel, z, y, x`` (``batch, channel, y, x`` for 2D networks).

    Args:
        output: ``<name>.zip`` for a zip archive, any other path for a folder.
        ckpt_path: the weights: ``model.pt``, ``last.pt``, a pytorch-3dunet checkpoint or a package made by
            this function.
        network: the architecture (a network of ``unet3d_monai.networks``) when there is no training record.
        patch_size: the training patch when there is no record (2 or 3 ints).
        normalization: the ``Normalize`` mode when there is no record (``standardize``, ``percentile``,
            ``minmax`` or ``none``).
        sample_task: the synthetic sample task (``unet3d_monai.data.sample``) the test input is drawn from.
        bundle_dir: the bundle folder, whose ``metadata.json`` gives the name, description and authors and whose
            ``README.md`` opens the documentation.
        authors: names, or mappings with ``name`` and optionally ``affiliation``, ``email``, ``orcid``; by
            default the bundle's ``authors``.
        tags: tags beside those derived from the network (``unet``, ``3d``, ``pytorch``...).
        license: an SPDX license identifier.
        test_input: raw intensities ``(C, *spatial)`` whose central patch becomes the test input, instead of the
            synthetic sample data.
        overwrite: replace an existing ``output``.

    Returns:
        ``output`` as a :class:`~pathlib.Path`.

    Raises:
        ImportError: ``bioimageio.spec`` is not installed.
        FileNotFoundError: ``ckpt_path`` or ``bundle_dir`` does not exist.
        FileExistsError: ``output`` exists and ``overwrite`` is False.
        ValueError: an option, the record or the weights do not fit (one sentence naming it).

    Example::

        >>> export_bioimageio("boundary.zip", "bundles/boundary/models/model.pt", UNet3D(1, 1, f_maps=32),
        ...                   patch_size=(32, 64, 64), normalization="standardize", sample_task="boundary",
        ...                   bundle_dir="bundles/boundary")
        PosixPath('boundary.zip')
    """
    v0_5 = _bioimageio_v0_5()
    import tifffile  # a dependency of bioimageio.spec
    from bioimageio.spec import InvalidDescr, load_description, save_bioimageio_package
    from bioimageio.spec import save_bioimageio_package_as_folder as save_folder

    output = _check_output(output, overwrite)
    ckpt_path = Path(ckpt_path)
    if not ckpt_path.exists():
        raise FileNotFoundError(f"weights {ckpt_path} do not exist.")
    record = training_record(ckpt_path)
    record_source = (
        f"the record of the package {ckpt_path}"
        if is_bioimageio_package(ckpt_path)
        else str(ckpt_path.with_name(RECORD_FILE))
    )
    model = _resolve_model(record, network, patch_size, normalization, sample_task, record_source)
    network = load_network_weights(model.network, ckpt_path).cpu().eval()
    window, test_source = _test_window(model, test_input, model.task)
    prediction = _predict(network, window, model)
    meta, readme = _read_bundle(bundle_dir)
    try:
        license_id = v0_5.LicenseId(license)
    except ValueError as error:
        raise ValueError(f"license {license!r} is not an SPDX identifier bioimage.io knows (e.g. MIT).") from error

    definition = network_definition(network)
    class_name = definition.pop("_target_").rsplit(".", 1)[-1]
    torch_version = torch.__version__.split("+")[0]
    try:
        package_version = package_metadata.version("unet3d-monai")
    except package_metadata.PackageNotFoundError:
        package_version = None
    probabilities = model.final_activation in ("sigmoid", "softmax")
    data_format = meta.get("network_data_format", {}) if isinstance(meta.get("network_data_format"), dict) else {}
    input_channels = _channel_names(
        data_format.get("inputs", {}).get("image", {}).get("channel_def"), network.in_channels, "channel"
    )
    output_channels = _channel_names(
        data_format.get("outputs", {}).get("pred", {}).get("channel_def"), network.out_channels, "channel"
    )

    with tempfile.TemporaryDirectory(prefix="bioimageio-export-") as tmp:
        tmp = Path(tmp)
        weights_path = tmp / "weights.pt"
        torch.save(network.state_dict(), weights_path)
        torchscript_path = _torchscript(network, window, tmp / "weights_torchscript.pt")
        np.save(tmp / "test_input.npy", window)
        np.save(tmp / "test_output.npy", prediction)
        tifffile.imwrite(tmp / "sample_input.tif", window[0])  # the same tensors as images for people to look at
        tifffile.imwrite(tmp / "sample_output.tif", prediction[0])
        cover_path = save_cover(cover_image(window, prediction, probabilities), tmp / "cover.png")
        documentation_path = tmp / "README.md"
        documentation_path.write_text(
            package_documentation(
                readme,
                name=_model_name(meta, network, model.task),
                description=str(meta.get("description") or ""),
                network_class=class_name,
                arguments=definition,
                axes=model.axes,
                patch_size=model.patch_size,
                step=model.step,
                halo=model.halo,
                normalization=model.normalization,
                final_activation=model.final_activation,
                record_source=(
                    f"the training record ({record_source})"
                    if model.from_record
                    else "the bundle's training patch and normalisation (the weights have no training record)"
                ),
                test_source=test_source,
                eval_metrics=meta.get("eval_metrics") if isinstance(meta.get("eval_metrics"), dict) else {},
                bundle=None if bundle_dir is None else Path(bundle_dir).as_posix(),
            )
        )
        environment_path = tmp / "environment.yaml"
        pip_requirement = "unet3d-monai" if package_version is None else f"unet3d-monai=={package_version}"
        environment_path.write_text(
            yaml.safe_dump(
                {
                    "name": "unet3d-monai",
                    "channels": ["conda-forge", "nodefaults"],
                    "dependencies": ["python>=3.10", f"pytorch=={torch_version}", "pip", {"pip": [pip_requirement]}],
                },
                sort_keys=False,
            )
        )

        space_in = [
            v0_5.SpaceInputAxis(id=v0_5.AxisId(axis), size=v0_5.ParameterizedSize(min=size, step=step))
            for axis, size, step in zip(model.axes, model.patch_size, model.step)
        ]
        space_out = [
            v0_5.SpaceOutputAxisWithHalo(
                id=v0_5.AxisId(axis),
                size=v0_5.SizeReference(tensor_id=v0_5.TensorId(_INPUT_ID), axis_id=v0_5.AxisId(axis)),
                halo=halo,
            )
            for axis, halo in zip(model.axes, model.halo)
        ]
        all_axes = [v0_5.AxisId(axis) for axis in ("channel", *model.axes)]
        if model.normalization == "standardize":
            preprocessing = [v0_5.ZeroMeanUnitVarianceDescr(kwargs=v0_5.ZeroMeanUnitVarianceKwargs(axes=all_axes))]
        elif model.normalization in ("percentile", "minmax"):
            low, high = DEFAULT_PERCENTILES if model.normalization == "percentile" else (0.0, 100.0)
            preprocessing = [
                v0_5.ScaleRangeDescr(
                    kwargs=v0_5.ScaleRangeKwargs(axes=all_axes, min_percentile=low, max_percentile=high)
                )
            ]
        else:
            preprocessing = []
        if model.final_activation == "sigmoid":
            postprocessing = [v0_5.SigmoidDescr()]
        elif model.final_activation == "softmax":
            postprocessing = [v0_5.SoftmaxDescr(kwargs=v0_5.SoftmaxKwargs(axis=v0_5.AxisId("channel")))]
        else:
            postprocessing = []
        float32 = v0_5.EnsureDtypeDescr(kwargs=v0_5.EnsureDtypeKwargs(dtype="float32"))

        citations = list(CITATIONS) + ([_RESIDUAL_CITATION] if class_name.startswith("Residual") else [])
        derived_tags = [
            "unet",
            f"{network.spatial_dims}d",
            "pytorch",
            "monai",
            "unet3d-monai",
            "pytorch-3dunet",
            "segmentation" if probabilities else "regression",
        ]
        try:
            description = v0_5.ModelDescr(
                name=_model_name(meta, network, model.task),
                description=str(meta.get("description") or f"{class_name} exported by unet3d-monai."),
                authors=_authors(authors, meta, v0_5),
                cite=[v0_5.CiteEntry(text=text, doi=v0_5.Doi(doi)) for text, doi in citations],
                license=license_id,
                tags=list(dict.fromkeys([*derived_tags, *(str(tag) for tag in tags)])),
                documentation=v0_5.FileDescr(source=documentation_path),
                covers=[v0_5.FileDescr(source=cover_path)],
                inputs=[
                    v0_5.InputTensorDescr(
                        id=v0_5.TensorId(_INPUT_ID),
                        description=f"raw intensities; {model.normalization} normalisation is part of the package",
                        axes=[v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=input_channels), *space_in],
                        test_tensor=v0_5.FileDescr(source=tmp / "test_input.npy"),
                        sample_tensor=v0_5.FileDescr(source=tmp / "sample_input.tif"),
                        data=v0_5.IntervalOrRatioDataDescr(type="float32"),
                        preprocessing=[float32, *preprocessing],
                    )
                ],
                outputs=[
                    v0_5.OutputTensorDescr(
                        id=v0_5.TensorId(_OUTPUT_ID),
                        description=(
                            f"{model.final_activation} of the network's logits" if probabilities else "regression"
                        ),
                        axes=[v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=output_channels), *space_out],
                        test_tensor=v0_5.FileDescr(source=tmp / "test_output.npy"),
                        sample_tensor=v0_5.FileDescr(source=tmp / "sample_output.tif"),
                        data=v0_5.IntervalOrRatioDataDescr(
                            type="float32", range=(0.0, 1.0) if probabilities else (None, None)
                        ),
                        postprocessing=[*postprocessing, float32],
                    )
                ],
                weights=v0_5.WeightsDescr(
                    pytorch_state_dict=v0_5.PytorchStateDictWeightsDescr(
                        source=weights_path,
                        architecture=v0_5.ArchitectureFromLibraryDescr(
                            callable=v0_5.Identifier(class_name), import_from=NETWORKS_MODULE, kwargs=definition
                        ),
                        pytorch_version=v0_5.Version(torch_version),
                        dependencies=v0_5.FileDescr(source=environment_path),
                    ),
                    torchscript=v0_5.TorchscriptWeightsDescr(
                        source=torchscript_path,
                        pytorch_version=v0_5.Version(torch_version),
                        parent="pytorch_state_dict",
                    ),
                ),
                config=v0_5.Config(**{"unet3d_monai": model.record()}),
            )
        except ValueError as error:  # pydantic's ValidationError: what the bioimage.io format refused
            raise ValueError(f"the bioimage.io model description is invalid: {error}") from error

        staged = output.with_name(f".{output.name}.{os.getpid()}.partial{'.zip' if output.suffix == '.zip' else ''}")
        try:
            if output.suffix == ".zip":
                save_bioimageio_package(description, output_path=staged)
            else:
                save_folder(description, output_path=staged)
                loaded = load_description(staged)
                if isinstance(loaded, InvalidDescr):
                    raise ValueError(f"the exported package {output} is invalid: {loaded.get_reason()}")
            _move_into_place(staged, output)
        finally:
            if staged.is_dir():
                shutil.rmtree(staged)
            elif staged.exists():
                staged.unlink()
    logger.info(f"wrote the bioimage.io model package {output}")
    return output
