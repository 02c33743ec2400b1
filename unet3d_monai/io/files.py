"""Finding and opening HDF5 files: discovery, MONAI datalists, dataset-folder checks and clear errors.

Every other module of :mod:`unet3d_monai.data` opens HDF5 files through :func:`open_h5` and
:func:`get_h5_dataset`, so that a missing file, a file that is not HDF5 (or is truncated) and a missing
internal dataset each give one sentence naming the file and the problem instead of a traceback from h5py.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path

import h5py
import numpy as np

__all__ = [
    "H5_SUFFIXES",
    "HDF5FileError",
    "HDF5KeyError",
    "check_dataset_dir",
    "find_files",
    "find_h5_files",
    "get_h5_dataset",
    "is_zarr",
    "list_h5_datasets",
    "make_datalist",
    "open_h5",
    "read_h5",
    "ZARR_SUFFIX",
]

H5_SUFFIXES: tuple[str, ...] = (".h5", ".hdf5", ".hdf", ".hd5")
"""File name suffixes recognised as HDF5 (compared case-insensitively)."""

PathInput = str | PathLike | Sequence[str | PathLike]


class HDF5FileError(ValueError):
    """A file exists but cannot be read as HDF5 (not HDF5, truncated, or unreadable)."""


class HDF5KeyError(KeyError):
    """An internal dataset asked for is missing from an HDF5 file.

    ``str()`` gives the plain sentence (``KeyError`` would otherwise print it quoted).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def open_h5(path: str | PathLike) -> h5py.File:
    """Open an HDF5 file read-only, turning h5py's errors into one clear sentence.

    Args:
        path: the file.

    Returns:
        the open ``h5py.File`` (the caller closes it, e.g. ``with open_h5(p) as f:``).

    Raises:
        FileNotFoundError: the file does not exist.
        IsADirectoryError: the path is a folder.
        HDF5FileError: the file is not HDF5, is truncated or cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"HDF5 file '{path}' does not exist.")
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a folder, expected an HDF5 file.")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        if not h5py.is_hdf5(path):
            raise HDF5FileError(f"File '{path}' is not an HDF5 file (or its header is damaged).") from e
        raise HDF5FileError(f"HDF5 file '{path}' cannot be read; it may be truncated or damaged ({e}).") from e


def list_h5_datasets(h5file: h5py.File) -> list[str]:
    """All dataset paths inside an open HDF5 file, e.g. ``['label', 'raw', 'volumes/weights']``."""
    names: list[str] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            names.append(name)

    h5file.visititems(visit)
    return sorted(names)


def get_h5_dataset(h5file: h5py.File, key: str) -> h5py.Dataset:
    """The dataset ``key`` of an open HDF5 file, or one sentence listing the datasets that are present.

    Raises:
        HDF5KeyError: ``key`` is missing or names a group.
    """
    obj = h5file.get(key)
    if isinstance(obj, h5py.Dataset):
        return obj
    present = ", ".join(f"'{n}'" for n in list_h5_datasets(h5file)) or "none"
    what = "is a group, not a dataset" if obj is not None else "is missing"
    raise HDF5KeyError(f"HDF5 file '{h5file.filename}': dataset '{key}' {what}; datasets present: {present}.")


def read_h5(dataset: h5py.Dataset, index: object = ()) -> np.ndarray:
    """``dataset[index]``, with a read failure (damaged or truncated data) turned into one clear sentence.

    Raises:
        HDF5FileError: h5py could not read the data.
    """
    try:
        return dataset[index]
    except OSError as e:
        raise HDF5FileError(
            f"HDF5 file '{dataset.file.filename}' dataset '{dataset.name.lstrip('/')}' cannot be read; "
            f"the file may be truncated or damaged ({e})."
        ) from e


def _is_h5(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in H5_SUFFIXES


def find_files(
    paths: PathInput,
    kind: str,
    suffixes: Sequence[str],
    listed: Callable[[Path], bool],
    named: Callable[[Path], bool] | None = None,
) -> list[Path]:
    """The files named by a file, a folder (its direct entries that ``listed`` accepts), a glob pattern (the
    matches ``listed`` accepts), or a list of these; sorted within each entry, in the order of the entries, without
    duplicates.

    A named file is taken when ``named`` accepts it (any file when ``named`` is None); a folder that ``named``
    accepts is taken whole (a zarr store) instead of being listed.

    Args:
        paths: a path or pattern, or a list of them.
        kind: what the files are, for errors, e.g. ``"HDF5 files"``.
        suffixes: the file name suffixes looked for, for errors.
        listed: whether a path found in a folder or by a pattern is one of the files.
        named: whether a path named directly is one of the files; None takes any file.

    Example::

        find_files("data/train", "HDF5 files", (".h5",), lambda p: p.suffix == ".h5")

    Raises:
        FileNotFoundError: an entry matches nothing, is not one of the files, or the list is empty.
    """
    entries = [paths] if isinstance(paths, (str, PathLike)) else list(paths)
    if not entries:
        raise FileNotFoundError(f"No {kind}: the list of inputs is empty.")
    looked_for = ", ".join(f"*{s}" for s in suffixes)
    found: list[Path] = []
    for entry in entries:
        path = Path(entry).expanduser()
        if named is not None and path.is_dir() and named(path):
            files = [path]
        elif path.is_dir():
            files = sorted(f for f in path.iterdir() if listed(f))
            if not files:
                raise FileNotFoundError(f"Folder '{path}' contains no {kind} (looked for {looked_for}).")
        elif path.is_file():
            if named is not None and not named(path):
                raise FileNotFoundError(f"'{path}' is none of the {kind} read here (expected {looked_for}).")
            files = [path]
        elif glob.has_magic(str(path)):
            files = sorted(Path(f) for f in glob.glob(str(path)) if listed(Path(f)))
            if not files:
                raise FileNotFoundError(f"Pattern '{path}' matches no {kind}.")
        else:
            raise FileNotFoundError(f"File or folder '{path}' does not exist.")
        found.extend(f for f in files if f not in found)
    return found


def find_h5_files(paths: PathInput) -> list[Path]:
    """HDF5 files named by a file, a folder (its direct ``*.h5``/``*.hdf5``/``*.hdf``/``*.hd5`` files), a glob
    pattern, or a list of these.

    Files are returned sorted within each entry, in the order of the entries, without duplicates.

    Example::

        find_h5_files("data/train")                # every HDF5 file in the folder
        find_h5_files(["a.h5", "more/*.h5"])       # a file and a glob

    Raises:
        FileNotFoundError: an entry matches nothing, or nothing at all was found.
    """
    return find_files(paths, "HDF5 files", H5_SUFFIXES, _is_h5)


def make_datalist(
    paths: PathInput,
    keys: Sequence[str] = ("image", "label"),
) -> list[dict[str, str]]:
    """A MONAI datalist for whole-volume loading: one dict per HDF5 file, every key mapped to the file path.

    Pair it with ``LoadImaged`` and one :class:`~unet3d_monai.data.HDF5Reader` per key, which selects
    the internal dataset::

        datalist = make_datalist("data/val")   # [{"image": "data/val/a.h5", "label": "data/val/a.h5"}, ...]
        load = Compose([
            LoadImaged("image", reader=HDF5Reader(key="raw")),
            LoadImaged("label", reader=HDF5Reader(key="label")),
            EnsureChannelFirstd(["image", "label"]),
        ])
        ds = monai.data.Dataset(datalist, transform=load)

    Args:
        paths: file, folder, glob or list of these (see :func:`find_h5_files`).
        keys: the dictionary keys each item carries.
    """
    keys = tuple(keys)
    if not keys:
        raise ValueError("make_datalist needs at least one key, got an empty keys sequence.")
    return [dict.fromkeys(keys, str(f)) for f in find_h5_files(paths)]


def check_dataset_dir(
    root: str | PathLike,
    splits: Sequence[str] = ("train", "val"),
    raw_key: str = "raw",
    label_key: str | None = "label",
) -> dict[str, list[Path]]:
    """Check a dataset folder laid out as ``<root>/<split>/*.h5`` before training starts.

    Each file of each split must hold ``raw_key`` (and ``label_key`` unless it is None).

    Returns:
        the HDF5 files of each split, ``{"train": [...], "val": [...]}``.

    Raises:
        FileNotFoundError: ``root`` or a split folder is missing, or a split holds no HDF5 file.
        HDF5FileError: a file is not readable HDF5.
        HDF5KeyError: a file lacks a dataset (the datasets present are listed).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Dataset folder '{root}' does not exist.")
    result: dict[str, list[Path]] = {}
    for split in splits:
        folder = root / split
        if not folder.is_dir():
            raise FileNotFoundError(f"Dataset folder '{root}' has no '{split}' subfolder.")
        files = find_h5_files(folder)
        for f in files:
            with open_h5(f) as h5:
                get_h5_dataset(h5, raw_key)
                if label_key is not None:
                    get_h5_dataset(h5, label_key)
        result[split] = files
    return result


#: the suffix of a zarr store (a folder)
ZARR_SUFFIX = ".zarr"


def is_zarr(path: str | PathLike) -> bool:
    """Whether ``path`` names a zarr store (a folder ending in ``.zarr``)."""
    return str(path).rstrip("/").lower().endswith(ZARR_SUFFIX)
