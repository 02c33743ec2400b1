"""The cover image of a bioimage.io package: the test input beside the network's output on it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["cover_image", "save_cover"]

_MIN_HEIGHT = 256


def _stretch(image: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """``image`` scaled to 0..255 (uint8) between its ``low`` and ``high`` percentiles."""
    lo, hi = np.percentile(image, [low, high])
    return (np.clip((image - lo) / max(hi - lo, 1e-12), 0.0, 1.0) * 255).astype(np.uint8)


def _middle_slice(tensor: np.ndarray) -> np.ndarray:
    """``(C, Y, X)`` of a ``(B, C, Z, Y, X)`` (middle z) or ``(B, C, Y, X)`` array, first batch item."""
    image = np.asarray(tensor, dtype=np.float64)[0]
    return image[:, image.shape[1] // 2] if image.ndim == 4 else image


def _rgb(channels: np.ndarray, probabilities: bool) -> np.ndarray:
    """``(Y, X, 3)`` uint8: one channel as grey, two or three as red, green (and blue), more as their argmax."""
    if channels.shape[0] > 3:
        hues = np.linspace(0.0, 1.0, channels.shape[0], endpoint=False)
        palette = (np.stack([np.cos(2 * np.pi * (hues - shift)) for shift in (0.0, 1 / 3, 2 / 3)], axis=1) + 1) / 2
        return (palette[np.argmax(channels, axis=0)] * 255).astype(np.uint8)
    if probabilities:
        scaled = (np.clip(channels, 0.0, 1.0) * 255).astype(np.uint8)
    else:
        scaled = np.stack([_stretch(channel) for channel in channels])
    if scaled.shape[0] == 1:
        return np.repeat(scaled[0][..., None], 3, axis=-1)
    padding = np.zeros((3 - scaled.shape[0], *scaled.shape[1:]), dtype=np.uint8)
    return np.moveaxis(np.concatenate([scaled, padding]), 0, -1)


def _square(image: np.ndarray) -> np.ndarray:
    """``image`` ``(Y, X, 3)`` padded with black to a square."""
    side = max(image.shape[:2])
    out = np.zeros((side, side, 3), dtype=np.uint8)
    top, left = (side - image.shape[0]) // 2, (side - image.shape[1]) // 2
    out[top : top + image.shape[0], left : left + image.shape[1]] = image
    return out


def cover_image(test_input: np.ndarray, test_output: np.ndarray, probabilities: bool) -> np.ndarray:
    """A 2:1 RGB image (uint8, ``(H, 2H, 3)``): the middle slice of the input beside that of the output.

    Args:
        test_input: ``(B, C, Z, Y, X)`` or ``(B, C, Y, X)`` raw intensities (the first channel is shown).
        test_output: the network's output of the same spatial shape, ``(B, C', ...)``.
        probabilities: the output holds probabilities in [0, 1] (shown as they are); otherwise it is stretched
            between its percentiles like the input.

    Example::

        >>> cover_image(np.random.rand(1, 1, 8, 32, 32), np.random.rand(1, 1, 8, 32, 32), True).shape
        (256, 512, 3)
    """
    source, result = _middle_slice(test_input), _middle_slice(test_output)
    if source.shape[1:] != result.shape[1:]:
        raise ValueError(
            f"the cover needs an input and an output of one spatial shape, got {source.shape[1:]} and "
            f"{result.shape[1:]}."
        )
    left = _square(_rgb(source[:1], probabilities=False))
    right = _square(_rgb(result, probabilities=probabilities))
    zoom = max(1, -(-_MIN_HEIGHT // left.shape[0]))
    both = np.concatenate([left, right], axis=1)
    return np.kron(both, np.ones((zoom, zoom, 1), dtype=np.uint8))


def save_cover(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write ``image`` (``(H, W, 3)`` uint8) as a PNG and return its path."""
    from PIL import Image

    path = Path(path)
    Image.fromarray(image).save(path, format="PNG")
    return path
