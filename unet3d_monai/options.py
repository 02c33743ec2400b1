"""Yes/no and optional option values as a command line gives them.

``python -m monai.bundle run`` hands every value given on its command line to the config as a string, at any depth
(``--tta true``, ``--window_predictor#tta true``), so the components that take a yes/no option read it with
:func:`as_bool` where they take it, whoever built them: a bundle, ``train3dunet``/``predict3dunet`` or Python code.
"""

from __future__ import annotations

__all__ = ["as_bool", "as_optional"]

_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f", "none", "null", ""}
_UNSET = ("none", "null", "")


def as_optional(value: object) -> object:
    """An option that may be left unset (``--scheduler``, ``--part``): None for None and for the words a command line
    gives for it (``none``, ``null``, an empty string), else the value as it is.

    Example::

        >>> as_optional("null"), as_optional("local:2")
        (None, 'local:2')
    """
    if value is None or (isinstance(value, str) and value in _UNSET):
        return None
    return value


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
