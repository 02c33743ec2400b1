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
from importlib import metadata as package_metadata
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import yaml

from unet3d_monai.compat import load_network_weights
from unet3d_monai.data.normalize import Normalize
from unet3d_monai.data.sample import TASKS, generate_volume
from unet3d_monai.data.stats import DEFAULT_PERCENTILES
from unet3d_monai.export.architecture import network_definition
from unet3d_monai.export.cover import cover_image, save_cover
from unet3d_monai.export.description import PackageFiles, bioimageio_spec, model_description, model_name
from unet3d_monai.export.documentation import package_documentation
from unet3d_monai.export.model import ExportedModel, resolve_model
from unet3d_monai.io.atomic import replace_path
from unet3d_monai.options import as_bool

__all__ = ["export_bioimageio"]

logger = logging.getLogger(__name__)


def _test_window(model: ExportedModel, test_input: np.ndarray | None, task: str | None) -> tuple[np.ndarray, str]:
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


def _predict(network: nn.Module, window: np.ndarray, model: ExportedModel) -> np.ndarray:
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


def _environment() -> str:
    """The conda environment of the ``pytorch_state_dict`` weights: PyTorch and this package."""
    try:
        requirement = f"unet3d-monai=={package_metadata.version('unet3d-monai')}"
    except package_metadata.PackageNotFoundError:
        requirement = "unet3d-monai"
    dependencies = ["python>=3.10", f"pytorch=={torch.__version__.split('+')[0]}", "pip", {"pip": [requirement]}]
    return yaml.safe_dump(
        {"name": "unet3d-monai", "channels": ["conda-forge", "nodefaults"], "dependencies": dependencies},
        sort_keys=False,
    )


def _check_output(output: str | os.PathLike, overwrite: bool) -> Path:
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; pass overwrite=True (--overwrite true) to replace it.")
    if output.exists() and output.suffix == ".zip" and not output.is_file():
        raise FileExistsError(f"{output} is a folder, not a zip archive it could replace.")
    output.parent.mkdir(parents=True, exist_ok=True)
    return output


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
    overwrite: bool | str = False,
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
        overwrite: replace an existing ``output`` (``true``/``false`` as the command line gives them too).

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
    bioimageio_spec()  # fails first, with the install command, when the extra is missing
    import tifffile  # a dependency of bioimageio.spec
    from bioimageio.spec import InvalidDescr, load_description, save_bioimageio_package
    from bioimageio.spec import save_bioimageio_package_as_folder as save_folder

    output = _check_output(output, as_bool(overwrite, "overwrite"))
    ckpt_path = Path(ckpt_path)
    if not ckpt_path.exists():
        raise FileNotFoundError(f"weights {ckpt_path} do not exist.")
    model = resolve_model(ckpt_path, network, patch_size, normalization, sample_task)
    network = load_network_weights(model.network, ckpt_path).cpu().eval()
    window, test_source = _test_window(model, test_input, model.task)
    prediction = _predict(network, window, model)
    meta, readme = _read_bundle(bundle_dir)
    arguments = network_definition(network)
    class_name = arguments.pop("_target_").rsplit(".", 1)[-1]

    with tempfile.TemporaryDirectory(prefix="bioimageio-export-") as tmp:
        tmp = Path(tmp)
        files = PackageFiles(
            weights=tmp / "weights.pt",
            torchscript=tmp / "weights_torchscript.pt",
            environment=tmp / "environment.yaml",
            test_input=tmp / "test_input.npy",
            test_output=tmp / "test_output.npy",
            sample_input=tmp / "sample_input.tif",
            sample_output=tmp / "sample_output.tif",
            cover=tmp / "cover.png",
            documentation=tmp / "README.md",
        )
        torch.save(network.state_dict(), files.weights)
        _torchscript(network, window, files.torchscript)
        files.environment.write_text(_environment())
        np.save(files.test_input, window)
        np.save(files.test_output, prediction)
        tifffile.imwrite(files.sample_input, window[0])  # the same tensors as images for people to look at
        tifffile.imwrite(files.sample_output, prediction[0])
        save_cover(cover_image(window, prediction, model.probabilities), files.cover)
        files.documentation.write_text(
            package_documentation(
                readme,
                name=model_name(meta, model),
                description=str(meta.get("description") or ""),
                network_class=class_name,
                arguments=arguments,
                axes=model.axes,
                patch_size=model.patch_size,
                step=model.step,
                halo=model.halo,
                normalization=model.normalization,
                final_activation=model.final_activation,
                record_source=model.source,
                test_source=test_source,
                eval_metrics=meta.get("eval_metrics") if isinstance(meta.get("eval_metrics"), dict) else {},
                bundle=None if bundle_dir is None else Path(bundle_dir).as_posix(),
            )
        )
        description = model_description(model, files, meta, authors=authors, tags=tags, license=license)

        staged = output.with_name(f".{output.name}.{os.getpid()}.partial{'.zip' if output.suffix == '.zip' else ''}")
        try:
            if output.suffix == ".zip":
                save_bioimageio_package(description, output_path=staged)
            else:
                save_folder(description, output_path=staged)
                loaded = load_description(staged)
                if isinstance(loaded, InvalidDescr):
                    raise ValueError(f"the exported package {output} is invalid: {loaded.get_reason()}")
            replace_path(staged, output)
        finally:
            if staged.is_dir():
                shutil.rmtree(staged)
            elif staged.exists():
                staged.unlink()
    logger.info(f"wrote the bioimage.io model package {output}")
    return output
