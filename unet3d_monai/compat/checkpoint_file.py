"""Reading PyTorch files with ``torch.load(..., weights_only=True)``, with one sentence when a file cannot be read.

Every file this package reads with ``torch.load`` (network weights, training states, the weights of bioimage.io
packages) goes through :func:`load_checkpoint_file`. Only tensors, numbers, strings and containers of them are
read; a file that holds anything else, or that is damaged, is refused with a sentence that names the file and says
what was expected, never with PyTorch's advice to load it with ``weights_only=False`` (which runs any code a file
holds, and cannot read a damaged file either).
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from typing import Any

import torch

__all__ = ["NotACheckpointError", "load_checkpoint_file"]

#: how ``torch.load(weights_only=True)`` names a Python object it refuses to rebuild
_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (?P<name>[\w.]+)")


class NotACheckpointError(ValueError):
    """A file that ``torch.load(weights_only=True)`` cannot read, or that holds no network weights."""


def _why(error: BaseException) -> str:
    unsupported = _UNSUPPORTED_GLOBAL.search(str(error))
    if unsupported:
        return (
            f"it holds a Python object of type {unsupported['name']}, and only tensors, numbers, strings and "
            "containers of them are read from checkpoint files"
        )
    if isinstance(error, OSError) and error.strerror:
        return f"it cannot be read ({error.strerror})"
    return "the file is damaged or truncated, or was not written by torch.save"


def load_checkpoint_file(
    source: str | os.PathLike | io.BytesIO,
    expected: str,
    name: str | None = None,
    map_location: Any = "cpu",
    mmap: bool = False,
    error_type: type[Exception] = NotACheckpointError,
) -> Any:
    """``torch.load(source, weights_only=True)``, or one sentence saying why ``source`` is not a readable checkpoint.

    Args:
        source: the file, or its bytes.
        expected: what the file should hold, for the message, e.g. ``"network weights saved with torch.save"``.
        name: how the message names the file (default: ``source``).
        map_location: passed to ``torch.load``.
        mmap: map the file's tensors instead of reading them; used only for files in ``torch.save``'s zip format
            (older files, and damaged ones, are read whole).
        error_type: the error raised when the file cannot be read.

    Raises:
        NotACheckpointError: (or ``error_type``) the file is damaged, is not a PyTorch file, or holds Python objects
            other than tensors, numbers, strings and containers of them, e.g. ``/data/model.pt is not a readable
            checkpoint: the file is damaged or truncated, or was not written by torch.save; expected network weights
            saved with torch.save.``

    Example::

        >>> state = load_checkpoint_file("models/last.pt", "the training state that training writes (last.pt)")
    """
    label = str(source) if name is None else name
    if mmap and not (isinstance(source, (str, os.PathLike)) and zipfile.is_zipfile(source)):
        mmap = False
    try:
        return torch.load(source, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as error:  # any failure to deserialise means the file is not a readable checkpoint
        raise error_type(f"{label} is not a readable checkpoint: {_why(error)}; expected {expected}.") from error
