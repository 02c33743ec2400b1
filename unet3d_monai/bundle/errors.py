"""One-sentence errors on the bundle command line instead of MONAI's nested tracebacks."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType

__all__ = ["install_error_hook", "user_error"]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
TRACEBACK_VARIABLE = "UNET3D_MONAI_TRACEBACK"


def _raised_in_package(error: BaseException) -> bool:
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE_DIR)


def user_error(error: BaseException) -> BaseException | None:
    """The error this package raised to explain bad input, found in ``error``'s chain of causes, if any.

    MONAI's config parser and ignite's engines re-raise errors wrapped in their own (``Failed to evaluate
    ConfigExpression ...``); the innermost error raised by this package's own code is the one that says what was
    wrong with the data, a file or an option.
    """
    found, seen = None, set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if _raised_in_package(error) and not isinstance(error, (KeyboardInterrupt, SystemExit)):
            found = error
        error = error.__cause__ or error.__context__
    return found


def _hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    explained = None if os.environ.get(TRACEBACK_VARIABLE) else user_error(error)
    if explained is None:
        sys.__excepthook__(kind, error, tb)
        return
    print(f"\nerror: {explained}", file=sys.stderr)
    print(f"(set {TRACEBACK_VARIABLE}=1 for the full traceback)", file=sys.stderr)


def install_error_hook() -> None:
    """Print only the one-sentence explanation when a bundle run fails on bad input.

    The bundles call this first in ``initialize`` when run as ``python -m monai.bundle``; any other failure keeps
    Python's full traceback, and ``UNET3D_MONAI_TRACEBACK=1`` keeps it for every failure.
    """
    sys.excepthook = _hook
