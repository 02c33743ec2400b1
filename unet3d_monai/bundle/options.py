"""Checks and conversions for the options that users pass to ``python -m monai.bundle run``."""

from __future__ import annotations

import ast
import difflib
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from unet3d_monai.errors import install_error_hook
from unet3d_monai.options import as_bool

__all__ = [
    "as_bool",
    "check_cli_overrides",
    "config_files",
    "config_option_names",
    "used_options",
    "user_options",
    "resume_checkpoint",
    "MONAI_RUN_ARGUMENTS",
    "PROGRAM_IDS",
]

#: arguments consumed by ``monai.bundle run`` itself; everything else on the command line is a config override.
MONAI_RUN_ARGUMENTS = frozenset(
    {"run_id", "init_id", "final_id", "meta_file", "config_file", "logging_file", "tracking", "args_file"}
)

#: the ids that MONAI's bundle runner and the bundles use for the steps of a run rather than for its settings
PROGRAM_IDS = frozenset({"imports", "initialize", "run", "training", "finalize"})
_REFERENCE = re.compile(r"@(\w+)")


def _override_names(argv: Sequence[str]) -> list[tuple[str, str]]:
    """The ``(top-level id, rest)`` of every ``--name value`` on ``argv``, e.g. ``("network_def", "#f_maps")``."""
    names = []
    for token in argv:
        if token.startswith("--") and len(token) > 2:
            name = token[2:].split("=", 1)[0].replace("-", "_")
            top, sep, rest = name.partition("#")
            names.append((top, sep + rest))
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


def _load(files: Sequence[str | os.PathLike]) -> dict:
    from monai.bundle import ConfigParser

    return ConfigParser.load_config_files([str(f) for f in files])


def config_option_names(files: Sequence[str | os.PathLike]) -> set[str]:
    """The top-level ids of the config ``files`` merged as MONAI merges them: the names a command line may set."""
    return set(_load(files))


def _references(value: object) -> list[str] | None:
    """The top-level ids that ``value`` refers to (``@id``), or None when it builds or runs something: a component or
    other dict, ``$`` statements in a list (a step of the run), a ``%`` macro."""
    if isinstance(value, dict):
        return None
    if isinstance(value, list | tuple):
        found = []
        for item in value:
            if isinstance(item, str) and item.startswith("$"):
                return None
            refs = _references(item)
            if refs is None:
                return None
            found += refs
        return found
    if isinstance(value, str) and value.startswith("%"):
        return None
    if isinstance(value, str) and value.startswith(("$", "@")):
        return _REFERENCE.findall(value)
    return []


def user_options(config: dict) -> set[str]:
    """The options users set on the command line for ``config``: its top-level settings.

    Settings are the ids whose value is a plain value, a list of them, or an expression or reference built from
    other settings only (``"device": "$torch.device('cpu')"``, ``"ckpt_path": "$@ckpt_dir + '/model.pt'"``).
    Components (dicts), the steps of the run (``imports``, ``initialize``, ``run``, ``training``, ``finalize``,
    lists of ``$`` statements) and what is computed from them (``"network": "$... @network_def ..."``) are not.
    Nested ids such as ``network_def#f_maps`` are accepted on the command line all the same
    (:func:`check_cli_overrides`); they are just not listed.
    """
    found: dict[str, bool] = {}

    def is_setting(name: str) -> bool:
        if name not in found:
            found[name] = False  # a cycle of references is no setting
            refs = None if name in PROGRAM_IDS or name.startswith("_") else _references(config[name])
            found[name] = refs is not None and all(ref in config and is_setting(ref) for ref in refs)
        return found[name]

    return {name for name in config if is_setting(name)}


def used_options(config: dict, options: set[str] | None = None) -> set[str]:
    """The ``options`` (by default :func:`user_options`) that the run of ``config`` uses itself: those referred to by a
    component, a step of the run or a computed value. The others only give another option its default (the inference
    bundles' ``ckpt_dir`` only makes ``ckpt_path``), so that ``--ckpt`` means ``--ckpt_path`` there."""
    options = user_options(config) if options is None else options
    used = set()
    for name, value in config.items():
        if name not in options:
            used |= set(_REFERENCE.findall(json.dumps(value))) & options
    return used


def check_cli_overrides(allowed: Iterable[str] | None = None, argv: Sequence[str] | None = None) -> None:
    """Fail with one sentence when the command line names an option the bundle does not have.

    MONAI's bundle runner silently adds unknown ``--name value`` pairs to the config, so a misspelt
    ``--epoch 5`` would train with the default number of epochs. The bundles call this first in ``initialize``;
    the names it accepts are the top-level ids of the config files given with ``--config_file`` (nested ids such
    as ``network_def#f_maps`` are accepted by their first part). The error lists the bundle's options
    (:func:`user_options`, not its internal ids) and suggests the one meant, e.g. ``--epochs`` for ``--epoch``. On
    the bundle command line it also installs :func:`~unet3d_monai.errors.install_error_hook`, so that bad
    input ends the run with its one-sentence explanation rather than MONAI's nested tracebacks.

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
    if allowed is not None:
        allowed = set(allowed)
        options, used = allowed, allowed
    else:
        config = _load(config_files(argv))
        allowed, options = set(config), user_options(config)
        used = used_options(config, options)
    for name, nested in _override_names(argv):
        if name in MONAI_RUN_ARGUMENTS or name in allowed:
            continue
        close = _closest(name, options, used) or _closest(name, allowed, used)
        hint = f" Did you mean --{close}{nested}?" if close else ""
        known = ", ".join(sorted(options or allowed))
        raise ValueError(f"unknown option --{name} for this bundle.{hint} Known options: {known}.")


def _closest(name: str, options: Iterable[str], preferred: set[str]) -> str | None:
    """The option ``name`` most likely stands for: one it begins (``--ckpt``: those in ``preferred`` first, then the
    closest spelling), else the one spelt most alike (``--learning_rat``)."""
    options = sorted(options)

    def spelling(option: str) -> float:
        return difflib.SequenceMatcher(None, name, option).ratio()

    prefixed = [option for option in options if option.startswith(name)]
    if prefixed:
        return min(prefixed, key=lambda option: (option not in preferred, -spelling(option), option))
    close = difflib.get_close_matches(name, options, n=3)
    return min(close, key=lambda option: (-spelling(option), option not in preferred, option)) if close else None


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
