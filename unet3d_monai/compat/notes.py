"""What a pytorch-3dunet configuration conversion reports: notes on keys without an exact equivalent, and the
one-sentence error for a key or name that does not exist."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["ConfigKeyError", "ConversionNote", "check_keys", "check_name", "closest_names"]


class ConfigKeyError(ValueError):
    """A key or a name in a pytorch-3dunet configuration that does not exist (pytorch-3dunet ignored such keys)."""


@dataclass(frozen=True)
class ConversionNote:
    """A configuration key that has no exact equivalent in the converted bundle, and what happens instead.

    Attributes:
        key: the dotted key in the YAML file, e.g. ``"loaders.test.slice_builder.halo_shape"``.
        message: what the bundle does instead, one sentence.

    Example::

        >>> str(ConversionNote("predictor.patch_halo", "replaced by Gaussian blending of overlapping windows."))
        'predictor.patch_halo: replaced by Gaussian blending of overlapping windows.'
    """

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def closest_names(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    """The valid names closest to ``name`` (by ``difflib``), best first; empty when nothing is close.

    Example::

        >>> closest_names("f_map", ["f_maps", "num_levels", "layer_order"])
        ['f_maps']
    """
    valid = sorted(set(valid))
    same_letters = [v for v in valid if v.lower() == name.lower()]  # a difference of case only comes first
    close = difflib.get_close_matches(name, valid, n=n, cutoff=0.6)
    return (same_letters + [c for c in close if c not in same_letters])[:n]


def _suggestion(name: str, valid: Iterable[str]) -> str:
    valid = sorted(set(valid))
    close = closest_names(name, valid)
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}? Valid: {', '.join(valid)}."
    return f"valid: {', '.join(valid)}."


def check_keys(section: Mapping, valid: Iterable[str], where: str, source: str) -> None:
    """Raise :class:`ConfigKeyError` naming the first key of ``section`` that is not in ``valid``.

    Args:
        section: a mapping of the YAML file.
        valid: the keys that section may hold.
        where: the section's dotted path, e.g. ``"trainer"`` (empty for the top level).
        source: the file name, for the message.

    Example::

        check_keys({"max_num_epoch": 5}, ["max_num_epochs"], "trainer", "train.yml")
        # ConfigKeyError: train.yml: unknown key 'trainer.max_num_epoch'; did you mean 'max_num_epochs'? ...
    """
    valid = set(valid)
    for key in section:
        if key not in valid:
            dotted = f"{where}.{key}" if where else str(key)
            raise ConfigKeyError(f"{source}: unknown key '{dotted}'; {_suggestion(str(key), valid)}")


def check_name(name: object, valid: Iterable[str], what: str, source: str) -> str:
    """Return ``name`` if it is one of ``valid``, else raise :class:`ConfigKeyError` with the closest names.

    Example::

        check_name("BCEDice", ["BCEDiceLoss", "DiceLoss"], "loss.name", "train.yml")
        # ConfigKeyError: train.yml: unknown loss.name 'BCEDice'; did you mean 'BCEDiceLoss'? ...
    """
    valid = set(valid)
    if not isinstance(name, str) or name not in valid:
        raise ConfigKeyError(f"{source}: unknown {what} {name!r}; {_suggestion(str(name), valid)}")
    return name
