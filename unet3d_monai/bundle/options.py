"""Checks and conversions for the options that users pass to ``python -m monai.bundle run``."""

from __future__ import annotations

import ast
import difflib
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import install_error_hook

__all__ = [
    "as_bool",
    "check_cli_overrides",
    "config_files",
    "config_option_names",
    "resume_checkpoint",
    "MONAI_RUN_ARGUMENTS",
]

#: arguments consumed by ``monai.bundle run`` itself; everything else on the command line is a config override.
MONAI_RUN_ARGUMENTS = frozenset(
    {"run_id", "init_id", "final_id", "meta_file", "config_file", "logging_file", "tracking", "args_file"}
)

_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f", "none", "null", ""}


def as_bool(value: object, name: str = "option") -> bool:
    """Read a yes/no option given in a config or on the command line.

    ``python -m monai.bundle`` hands ``--resume true`` to the config as the *string* ``"true"``, which Python would
    treat as true even when it says ``"false"``; this accepts booleans, 0/1 and the usual words.

    Example::

        >>> as_bool("false"), as_bool(True), as_bool("Yes")
        (False, True, True)
    """
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"--{name} must be true or false, got {value!r}.")


def _override_names(argv: Sequence[str]) -> list[str]:
    names = []
    for token in argv:
        if token.startswith("--") and len(token) > 2:
            name = token[2:].split("=", 1)[0]
            names.append(name.replace("-", "_").split("#", 1)[0])
    return names


def _is_bundle_cli(argv: Sequence[str]) -> bool:
    return bool(argv) and Path(argv[0]).parts[-3:] == ("monai", "bundle", "__main__.py")


def config_files(argv: Sequence[str]) -> list[str]:
    """The config files named by ``--config_file`` on a bundle command line (one file, or a list of files).

    Example::

        >>> config_files(["run", "--config_file", "['train.json', 'multi_gpu_train.json']"])
        ['train.json', 'multi_gpu_train.json']
    """
    for index, token in enumerate(argv):
        name, _, value = token.partition("=")
        if name in ("--config_file", "--config-file"):
            value = value or (argv[index + 1] if index + 1 < len(argv) else "")
            if value.strip().startswith(("[", "(")):
                return [str(v) for v in ast.literal_eval(value)]
            return [value] if value else []
    return []


def config_option_names(files: Sequence[str | os.PathLike]) -> set[str]:
    """The top-level ids of the config ``files`` merged as MONAI merges them: the names a command line may set."""
    from monai.bundle import ConfigParser

    return set(ConfigParser.load_config_files([str(f) for f in files]))


def check_cli_overrides(allowed: Iterable[str] | None = None, argv: Sequence[str] | None = None) -> None:
    """Fail with one sentence when the command line names an option the bundle does not have.

    MONAI's bundle runner silently adds unknown ``--name value`` pairs to the config, so a misspelt
    ``--epoch 5`` would train with the default number of epochs. The bundles call this first in ``initialize``;
    the names it accepts are the top-level ids of the config files given with ``--config_file`` (nested ids such
    as ``network_def#f_maps`` are accepted by their first part). On the bundle command line it also installs
    :func:`~unet3d_monai.bundle.errors.install_error_hook`, so that bad input ends the run with its one-sentence
    explanation rather than MONAI's nested tracebacks.

    Args:
        allowed: option names the bundle understands; None reads them from the config files on the command line.
        argv: the command line; by default ``sys.argv`` when the process is ``python -m monai.bundle`` (a bundle
            run from Python code, a notebook or a test runner has no bundle command line to check).
    """
    if argv is None:
        if not _is_bundle_cli(sys.argv):
            return
        install_error_hook()
        argv = sys.argv[1:]
    allowed = set(allowed) if allowed is not None else config_option_names(config_files(argv))
    for name in _override_names(argv):
        if name in MONAI_RUN_ARGUMENTS or name in allowed:
            continue
        close = difflib.get_close_matches(name, sorted(allowed), n=1)
        hint = f" Did you mean --{close[0]}?" if close else ""
        raise ValueError(f"unknown option --{name} for this bundle.{hint} Known options: {', '.join(sorted(allowed))}.")


def resume_checkpoint(resume: object, ckpt_dir: str | os.PathLike, filename: str = "last.pt") -> str | None:
    """Path of the training state to resume from, or None when not resuming.

    Raises:
        FileNotFoundError: resuming was asked for but ``<ckpt_dir>/<filename>`` does not exist.
    """
    if not as_bool(resume, "resume"):
        return None
    path = Path(ckpt_dir) / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"--resume true needs the training state {path}, which does not exist: train once without --resume, "
            "or point --ckpt_dir at the folder that holds last.pt."
        )
    return str(path)
