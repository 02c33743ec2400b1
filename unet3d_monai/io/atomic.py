"""Files and folders that appear whole or not at all: written beside their final name, then renamed over it."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_write", "replace_path"]


@contextmanager
def atomic_write(path: str | PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a new temporary file beside ``path`` for writing (``mode`` ``"wb"`` or ``"w"``); when the block ends
    without an error the file is flushed to disk and renamed over ``path`` (an atomic operation on POSIX file
    systems), otherwise it is removed.

    A process killed at any moment leaves either the previous file or the new one, never a truncated one. The
    file gets the permissions of an ordinary new file (``0o666`` less the process's umask, applied by the system,
    which is never changed).

    Example::

        with atomic_write("models/model.json", "w") as handle:
            json.dump(record, handle)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _create_temporary(path)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
        raise


@contextmanager
def atomic_path(path: str | PathLike, suffix: str = "") -> Iterator[Path]:
    """A new, empty temporary file beside ``path`` for a library that writes by file name (h5py, nibabel, an image
    writer); when the block ends without an error the file is flushed to disk and renamed over ``path``, otherwise
    it is removed. ``suffix`` ends the temporary name, for libraries that choose the format from it (``".png"``,
    ``".nii.gz"``). Like :func:`atomic_write`, the name is unique, so two processes writing the same ``path`` never
    write into one temporary file.

    Example::

        with atomic_path("data/train/a.h5") as temporary:
            with h5py.File(temporary, "w") as f:
                f["raw"] = raw
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _create_temporary(path, suffix)
    os.close(fd)
    try:
        yield Path(tmp_name)
        fd = os.open(tmp_name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
        raise


def _create_temporary(path: Path, suffix: str = "") -> tuple[int, str]:
    """A new file ``.<name>.<random>.tmp<suffix>`` beside ``path``, opened for writing, created with mode ``0o666``
    (the system takes the umask off)."""
    for _ in range(100):
        name = str(path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp{suffix}"))
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(f"Could not create a temporary file beside '{path}'.")


def replace_path(staged: str | PathLike, output: str | PathLike) -> Path:
    """Rename ``staged``, a finished file or folder in the folder of ``output``, to ``output``.

    A file replaces ``output`` in one rename. A folder cannot be renamed over an existing one: the existing
    ``output`` is first moved aside, and removed only once ``staged`` stands in its place, so ``output`` is never
    a mixture of the two.

    Example::

        replace_path("out/cells_predictions.zarr.part", "out/cells_predictions.zarr")
    """
    staged, output = Path(staged), Path(output)
    if not staged.is_dir():
        os.replace(staged, output)
        return output
    previous = output.with_name(f".{output.name}.{os.getpid()}.previous")
    _remove(previous)
    if output.exists():
        os.replace(output, previous)
    os.replace(staged, output)
    _remove(previous)
    return output


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
