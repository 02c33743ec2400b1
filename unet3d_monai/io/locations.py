"""Output locations checked before any work: a folder that can be written, with room for what goes into it."""

from __future__ import annotations

import os
import shutil
from os import PathLike
from pathlib import Path

__all__ = ["check_free_space", "check_writable_folder", "existing_ancestor", "format_bytes"]


def existing_ancestor(path: str | PathLike) -> Path:
    """``path`` itself when it exists, otherwise its nearest existing parent (the folder a ``mkdir -p`` starts in).

    Example::

        >>> existing_ancestor("/tmp/not/yet/there")
        PosixPath('/tmp')
    """
    path = Path(path).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def format_bytes(size: int) -> str:
    """A byte count for people: ``format_bytes(3 * 2**30) == '3.0 GiB'``."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _read_only_file_system(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def check_writable_folder(path: str | PathLike, what: str) -> Path:
    """Fail with one sentence unless ``path`` is a folder this process can write in, or can create.

    Nothing is created: a missing folder is judged by its nearest existing parent, which must be a folder on a
    writable file system with write permission. Call it before any work whose results go into ``path``.

    Args:
        path: the output folder.
        what: how to name it in the message, e.g. ``"--ckpt_dir"``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        NotADirectoryError: ``path``, or the parent it would be created in, is a file.
        PermissionError: the folder, or the parent it would be created in, cannot be written.

    Example::

        check_writable_folder("runs/boundary", "--output_dir")
    """
    path = Path(path).expanduser()
    ancestor = existing_ancestor(path)
    where = "" if ancestor == path.absolute() else f" (it would be created in '{ancestor}')"
    if not ancestor.is_dir():
        raise NotADirectoryError(f"{what} '{path}' cannot be a folder: '{ancestor}' is a file.")
    if _read_only_file_system(ancestor):
        raise PermissionError(f"{what} '{path}' is on a read-only file system{where}; choose another folder.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(
            f"{what} '{path}' is not writable{where}: no write permission on '{ancestor}'; choose another folder."
        )
    return path


def check_free_space(path: str | PathLike, needed_bytes: int, what: str, purpose: str) -> None:
    """Fail with one sentence when the file system of ``path`` (or of its nearest existing parent) has less than
    ``needed_bytes`` free.

    Args:
        path: the output folder (it need not exist yet).
        needed_bytes: what the outputs will take on disk.
        what: how to name the folder in the message, e.g. ``"--output_dir"``.
        purpose: what needs the space, e.g. ``"predicting 3 volumes"``.

    Raises:
        OSError: not enough free space.
    """
    free = shutil.disk_usage(existing_ancestor(path)).free
    if needed_bytes > free:
        raise OSError(
            f"{what} '{path}' has {format_bytes(free)} free but {purpose} needs about {format_bytes(needed_bytes)}; "
            "free some space or choose another folder."
        )
