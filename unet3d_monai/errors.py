"""One-sentence errors on the command line (the bundles, ``train3dunet``, ``predict3dunet``) instead of MONAI's nested
tracebacks."""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from types import TracebackType

__all__ = [
    "explain",
    "install_error_hook",
    "instantiation_error",
    "quiet_user_error_logs",
    "user_error",
    "worker_error",
]

_PACKAGE_DIR = Path(__file__).resolve().parent
TRACEBACK_VARIABLE = "UNET3D_MONAI_TRACEBACK"
#: how MONAI's ``monai.utils.instantiate`` words the error it raises when a config component cannot be built
_INSTANTIATE_FAILED = re.compile(r"Failed to instantiate component '(?P<component>[^']+)'")
#: how torch words an error re-raised in the main process from a DataLoader worker (``ExceptionWrapper.reraise``)
_WORKER_ERROR = re.compile(
    r"Caught \w+ [^\n]*\.\nOriginal (?P<traceback>Traceback \(most recent call last\):\n.*)", re.S
)
#: the lines with which Python's traceback joins the errors of a chain
_CHAIN_SEPARATOR = re.compile(
    r"\n\n(?:The above exception was the direct cause of the following exception|"
    r"During handling of the above exception, another exception occurred):\n\n"
)
_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line \d+')
_EXCEPTION_LINE = re.compile(r"^(?P<type>[\w.]+)(?:: (?P<message>.*))?$", re.S)


def _in_package(filename: str) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(_PACKAGE_DIR)
    except (OSError, ValueError):
        return False


def _raised_in_package(error: BaseException) -> bool:
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return _in_package(tb.tb_frame.f_code.co_filename)


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


def _package_error_in_text(text: str) -> str | None:
    """The message of the innermost error raised by this package in ``text``, a traceback as Python prints it."""
    for section in _CHAIN_SEPARATOR.split(text.strip("\n")):  # innermost first, as Python prints a chain
        lines = section.splitlines()
        frames = [i for i, line in enumerate(lines) if _FRAME.match(line)]
        if not frames or not _in_package(_FRAME.match(lines[frames[-1]])["file"]):
            continue
        rest = lines[frames[-1] + 1 :]
        while rest and (rest[0].startswith("    ") or not rest[0].strip()):  # the source line and its carets
            rest = rest[1:]
        described = _EXCEPTION_LINE.match("\n".join(rest).strip())
        if described and described["message"] and described["type"] not in ("KeyboardInterrupt", "SystemExit"):
            return described["message"].strip()
    return None


def worker_error(error: BaseException) -> str | None:
    """The message of the error this package raised in a DataLoader worker, when ``error`` re-raises one.

    PyTorch re-raises an error of a worker process in the main process with the worker's whole traceback as its
    message (``Caught HDF5FileError in DataLoader worker process 0. Original Traceback ...``); the innermost
    error of that traceback raised by this package's own code says what was wrong.
    """
    for link in reversed(_chain(error)):
        match = _WORKER_ERROR.match(str(link))
        if match:
            found = _package_error_in_text(match["traceback"])
            if found is not None:
                return found
    return None


def explain(error: BaseException) -> str | None:
    """The one-sentence explanation of a failed bundle run, or None when the failure is not bad input.

    It is the message of the innermost error this package raised (:func:`user_error`), also when it was raised in a
    DataLoader worker (:func:`worker_error`), else the cause of a config component that MONAI could not build
    (:func:`instantiation_error`).
    """
    found = user_error(error)
    if found is not None:
        return str(found)
    return worker_error(error) or instantiation_error(error)


def _hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    explained = None if os.environ.get(TRACEBACK_VARIABLE) else explain(error)
    if explained is None:
        sys.__excepthook__(kind, error, tb)
        return
    print(f"\nerror: {explained}", file=sys.stderr)
    print(f"(set {TRACEBACK_VARIABLE}=1 for the full traceback)", file=sys.stderr)


class _UserErrorLogFilter(logging.Filter):
    """Drops the error records that ignite's engines and MONAI's handlers log about an error :func:`explain`
    reduces to one sentence: that sentence is printed when the error ends the run.

    Loggers made after :func:`quiet_user_error_logs` (MONAI's ``StatsHandler`` makes its own, with its own handler,
    when the trainer is built) get the filter on the next error record: ignite logs that a run is terminating
    through the engine's logger before its handlers (``StatsHandler`` among them) hear of the error.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or os.environ.get(TRACEBACK_VARIABLE):
            return True
        quiet_user_error_logs()
        logged = record.exc_info[1] if record.exc_info and record.exc_info[1] is not None else None
        error = logged if logged is not None else sys.exc_info()[1]
        if error is None or explain(error) is None:
            return True
        if logged is not None:  # the error with its traceback (MONAI's StatsHandler)
            return False
        # an error being handled, named in the message (ignite's "Engine run is terminating due to exception: ...")
        message = record.getMessage()
        return not any(str(link) and str(link) in message for link in _chain(error))


_LOG_FILTER = _UserErrorLogFilter()


def quiet_user_error_logs() -> None:
    """Keep the log free of the tracebacks of errors that :func:`explain` reduces to one sentence.

    ignite's engines log an error that stops a run (``Engine run is terminating due to exception: ...``) and MONAI's
    ``StatsHandler`` logs it again with its traceback, before the error reaches the command line. This adds a filter
    to the handlers of every logger configured so far (and to Python's last-resort handler) that drops those records
    when the error is bad input; other errors are logged as before, and ``UNET3D_MONAI_TRACEBACK=1`` keeps every
    record.
    """
    loggers = [logging.getLogger()]
    loggers += [logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    handlers = [handler for logger in loggers for handler in logger.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if _LOG_FILTER not in handler.filters:
            handler.addFilter(_LOG_FILTER)


def install_error_hook() -> None:
    """Print only the one-sentence explanation when a bundle run fails on bad input.

    The bundles call this first in ``initialize`` when run as ``python -m monai.bundle``; a failure that
    :func:`explain` cannot reduce to a sentence keeps Python's full traceback, and ``UNET3D_MONAI_TRACEBACK=1``
    keeps it for every failure. Bad input that stops a training or prediction engine is not logged with its
    traceback either (:func:`quiet_user_error_logs`).
    """
    sys.excepthook = _hook
    quiet_user_error_logs()
