"""Read bioimage.io model packages: the description (``rdf.yaml``) and the ``pytorch_state_dict`` weights.

A package is a zip archive or a folder holding ``rdf.yaml`` (or ``bioimageio.yaml`` / ``model.yaml``) beside the
files it names. Only the standard library, PyYAML and ``torch.load(..., weights_only=True)`` are used: reading a
package does not need the bioimage.io libraries. :func:`unet3d_monai.export.export_bioimageio` writes such
packages; :func:`unet3d_monai.compat.load_network_weights` loads their weights.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch
import yaml

from unet3d_monai.compat.checkpoint_file import load_checkpoint_file

__all__ = [
    "RDF_NAMES",
    "RECORD_KEY",
    "BioimageioPackage",
    "NotABioimageioModelError",
    "is_bioimageio_package",
    "read_bioimageio_package",
]

#: names of the description file, in the order bioimage.io looks for them
RDF_NAMES = ("rdf.yaml", "bioimageio.yaml", "model.yaml")
#: key under the description's ``config`` that holds this package's training record
RECORD_KEY = "unet3d_monai"


class NotABioimageioModelError(ValueError):
    """A bioimage.io package that holds no model this package can load."""


def _zip_rdf_name(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return None
    return next((name for name in RDF_NAMES if name in names), None)


def _folder_rdf_name(path: Path) -> str | None:
    return next((name for name in RDF_NAMES if (path / name).is_file()), None)


def is_bioimageio_package(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a bioimage.io package: a zip or folder with ``rdf.yaml`` at its root, or that file.

    A PyTorch checkpoint is a zip archive too, but without ``rdf.yaml``.
    """
    path = Path(path)
    if path.is_dir():
        return _folder_rdf_name(path) is not None
    if path.is_file() and path.name in RDF_NAMES:
        return True
    return path.is_file() and _zip_rdf_name(path) is not None


@dataclass(frozen=True)
class BioimageioPackage:
    """A bioimage.io model package read from disk.

    Attributes:
        path: the zip archive or folder.
        description: the parsed ``rdf.yaml`` (a dict).
        state_dict: the ``pytorch_state_dict`` weights, on the CPU.
        architecture: ``import_from``, ``callable`` and ``kwargs`` of the weights' architecture (a dict).
        record: the training record this package's exporter stores under ``config.unet3d_monai`` (network,
            patch size, normalisation, final activation, task), or None for a package made elsewhere.
    """

    path: Path
    description: dict
    state_dict: dict[str, torch.Tensor]
    architecture: dict
    record: dict | None


def _read_member(path: Path, name: str) -> bytes:
    """The bytes of the package member ``name`` (a path relative to the description)."""
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts or "://" in name:
        raise NotABioimageioModelError(
            f"{path}: the weights must be a file inside the package, got the source {name!r}."
        )
    if path.is_dir():
        member = path / relative
        if not member.is_file():
            raise NotABioimageioModelError(f"{path} names the file {name!r}, which the package does not hold.")
        return member.read_bytes()
    with zipfile.ZipFile(path) as archive:
        try:
            return archive.read(str(relative))
        except KeyError:
            raise NotABioimageioModelError(
                f"{path} names the file {name!r}, which the package does not hold."
            ) from None


def read_bioimageio_package(path: str | os.PathLike) -> BioimageioPackage:
    """Read the description and ``pytorch_state_dict`` weights of a bioimage.io model package.

    Args:
        path: a zip archive or folder with ``rdf.yaml``, or the ``rdf.yaml`` of an unpacked package.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotABioimageioModelError: ``path`` is not a package, its description is not a model, it has no
            ``pytorch_state_dict`` weights, or the weights file is missing or unreadable.

    Example::

        >>> package = read_bioimageio_package("boundary.zip")
        >>> network = UNet3D(**package.architecture["kwargs"])
        >>> network.load_state_dict(package.state_dict)
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bioimage.io package {path} does not exist.")
    if path.is_file() and path.name in RDF_NAMES:
        path = path.parent
    if path.is_dir():
        rdf_name = _folder_rdf_name(path)
    else:
        rdf_name = _zip_rdf_name(path)
    if rdf_name is None:
        raise NotABioimageioModelError(
            f"{path} is not a bioimage.io package: expected a zip archive or folder with one of {list(RDF_NAMES)}."
        )
    try:
        description = yaml.safe_load(_read_member(path, rdf_name))
    except yaml.YAMLError as error:
        raise NotABioimageioModelError(f"{path}: {rdf_name} is not valid YAML ({error}).") from error
    if not isinstance(description, Mapping) or description.get("type") != "model":
        kind = description.get("type") if isinstance(description, Mapping) else type(description).__name__
        raise NotABioimageioModelError(f"{path}: {rdf_name} describes a {kind!r}, expected type 'model'.")
    weights = description.get("weights") or {}
    entry = weights.get("pytorch_state_dict") if isinstance(weights, Mapping) else None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("source"), str):
        formats = sorted(weights) if isinstance(weights, Mapping) else []
        raise NotABioimageioModelError(
            f"{path} has no pytorch_state_dict weights (it has {formats}); only pytorch_state_dict weights can be "
            "loaded into a network."
        )
    data = _read_member(path, entry["source"])
    state_dict = load_checkpoint_file(
        io.BytesIO(data),
        "a state_dict saved with torch.save",
        name=f"{path}: the weights file {entry['source']!r}",
        error_type=NotABioimageioModelError,
    )
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise NotABioimageioModelError(f"{path}: the weights {entry['source']!r} are not a state_dict.")
    architecture = entry.get("architecture") if isinstance(entry.get("architecture"), Mapping) else {}
    config = description.get("config") if isinstance(description.get("config"), Mapping) else {}
    record = config.get(RECORD_KEY) if isinstance(config.get(RECORD_KEY), Mapping) else None
    return BioimageioPackage(
        path=path,
        description=dict(description),
        state_dict=dict(state_dict),
        architecture=dict(architecture),
        record=None if record is None else dict(record),
    )
