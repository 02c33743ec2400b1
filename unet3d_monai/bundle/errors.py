"""One-sentence errors on the bundle command line instead of MONAI's nested tracebacks."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from types import TracebackType

__all__ = ["explain", "install_error_hook", "instantiation_error", "user_error"]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
TRACEBACK_VARIABLE = "UNET3D_MONAI_TRACEBACK"
#: how MONAI's ``monai.utils.instantiate`` words the error it raises when a config component cannot be built
_INSTANTIATE_FAILED = re.compile(r"Failed to instantiate component '(?P<component>[^']+)'")


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
    found = None
    for link in _chain(error):
        if _raised_in_package(link) and not isinstance(link, (KeyboardInterrupt, SystemExit)):
            found = link
    return found


def _chain(error: BaseException | None) -> list[BaseException]:
    """``error`` and the errors it was raised from or during, outermost first, as Python's traceback shows them
    (``raise ... from None`` ends the chain)."""
    chain, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return chain


def _config_id(error: BaseException) -> str | None:
    """The id of the config item MONAI's reference resolver was building when ``error`` was raised."""
    config_id, tb = None, error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "_resolve_one_item" and isinstance(frame.f_locals.get("id"), str):
            config_id = frame.f_locals["id"]
        tb = tb.tb_next
    return config_id


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else "no message"
    return text.rstrip(".") + "."


def instantiation_error(error: BaseException) -> str | None:
    """One sentence for an error raised while MONAI built a config component, or None if ``error`` is not one.

    MONAI reports a component that cannot be built (``torch.optim.Adam`` with a negative learning rate, a network
    with a misspelt argument) as ``Failed to instantiate component ...`` wrapped around the cause, at the end of a
    long traceback; this names the config item, the component and the cause's first line, e.g. ``config item
    'optimizer' (torch.optim.Adam) could not be built: ValueError: Invalid learning rate: -1.``
    """
    chain = _chain(error)
    wrappers = [e for e in chain if isinstance(e, RuntimeError) and _INSTANTIATE_FAILED.match(str(e))]
    if not wrappers:
        return None
    innermost = wrappers[-1]
    cause = innermost.__cause__
    if cause is None:
        return None
    component = _INSTANTIATE_FAILED.match(str(innermost))["component"]
    config_id = _config_id(innermost)
    item = f"config item '{config_id}' ({component})" if config_id else f"component {component}"
    return f"{item} could not be built: {type(cause).__name__}: {_first_line(cause)}"


def explain(error: BaseException) -> str | None:
    """The one-sentence explanation of a failed bundle run, or None when the failure is not bad input.

    It is the message of the innermost error this package raised (:func:`user_error`), else the cause of a config
    component that MONAI could not build (:func:`instantiation_error`).
    """
    found = user_error(error)
    return str(found) if found is not None else instantiation_error(error)


def _hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    explained = None if os.environ.get(TRACEBACK_VARIABLE) else explain(error)
    if explained is None:
        sys.__excepthook__(kind, error, tb)
        return
    print(f"\nerror: {explained}", file=sys.stderr)
    print(f"(set {TRACEBACK_VARIABLE}=1 for the full traceback)", file=sys.stderr)


def install_error_hook() -> None:
    """Print only the one-sentence explanation when a bundle run fails on bad input.

    The bundles call this first in ``initialize`` when run as ``python -m monai.bundle``; a failure that
    :func:`explain` cannot reduce to a sentence keeps Python's full traceback, and ``UNET3D_MONAI_TRACEBACK=1``
    keeps it for every failure.
    """
    sys.excepthook = _hook
