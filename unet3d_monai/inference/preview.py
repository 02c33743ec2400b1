"""A small PNG of the central orthogonal slices of an input volume next to its prediction."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Protocol

import numpy as np
from skimage.io import imsave
from skimage.transform import resize

from unet3d_monai.io.atomic import atomic_path
from unet3d_monai.io.region import Region

__all__ = ["central_slices", "preview_image", "write_preview"]

GAP = 4  # pixels between panels and between the views of a panel


class RegionReader(Protocol):
    """A channel-first volume ``(C, Z, Y, X)`` read region by region (``HDF5Volume``, ``ArrayVolume``)."""

    shape: tuple[int, ...]

    def read(self, region: Region) -> np.ndarray: ...


def central_slices(volume: RegionReader) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three planes through the centre of a ``(C, Z, Y, X)`` volume, reading only them.

    Returns:
        ``(C, Y, X)`` at the middle z, ``(C, Z, X)`` at the middle y and ``(C, Y, Z)`` at the middle x, float32.
    """
    _, z, y, x = volume.shape
    yx = volume.read((slice(z // 2, z // 2 + 1), slice(0, y), slice(0, x)))[:, 0]
    zx = volume.read((slice(0, z), slice(y // 2, y // 2 + 1), slice(0, x)))[:, :, 0]
    zy = volume.read((slice(0, z), slice(0, y), slice(x // 2, x // 2 + 1)))[:, :, :, 0]
    return yx.astype(np.float32), zx.astype(np.float32), np.swapaxes(zy, 1, 2).astype(np.float32)


def _scaled(planes: Sequence[np.ndarray], probabilities: bool) -> list[np.ndarray]:
    """Planes mapped to [0, 1] together: probabilities as they are, other values between their 1st and 99th
    percentiles (NaN/Inf ignored, shown as 0)."""
    values = np.concatenate([p[np.isfinite(p)] for p in planes])
    if probabilities or values.size == 0:
        low, high = 0.0, 1.0
    else:
        low, high = (float(v) for v in np.percentile(values, (1.0, 99.0)))
        if high <= low:
            low, high = float(values.min()), float(values.max())
    span = high - low if high > low else 1.0
    return [np.nan_to_num(np.clip((p - low) / span, 0.0, 1.0), nan=0.0) for p in planes]


def _panel(yx: np.ndarray, zx: np.ndarray, yz: np.ndarray) -> np.ndarray:
    """The orthogonal view: YX top left, YZ to its right, ZX below it (a single plane when Z is 1)."""
    y, x = yx.shape
    z = zx.shape[0]
    if z == 1:
        return yx
    panel = np.ones((y + GAP + z, x + GAP + z), dtype=np.float32)
    panel[:y, :x] = yx
    panel[:y, x + GAP :] = yz
    panel[y + GAP :, :x] = zx
    return panel


def preview_image(
    volume: RegionReader, predictions: RegionReader, max_channels: int = 3, max_size: int = 320
) -> np.ndarray:
    """An 8-bit grey image: the central orthogonal slices of the input's first channel, then of each prediction
    channel (at most ``max_channels``), side by side.

    Each panel shows the middle ``(Y, X)`` plane with the ``(Y, Z)`` plane to its right and the ``(Z, X)`` plane
    below (for a 2D image, the plane alone). The input is scaled between its 1st and 99th percentiles; predictions
    in [0, 1] (probabilities) are shown as they are, black 0 to white 1, other outputs scaled like the input.
    Panels larger than ``max_size`` pixels are shrunk (with anti-aliasing) to fit it.

    Args:
        volume: the (normalised) input, ``(C, Z, Y, X)``.
        predictions: the prediction, ``(C_out, Z, Y, X)``, same spatial shape.
        max_channels: prediction channels shown.
        max_size: largest side of one panel, in pixels.

    Returns:
        ``uint8`` array ``(H, W)``.
    """
    if tuple(volume.shape[1:]) != tuple(predictions.shape[1:]):
        raise ValueError(
            f"input {tuple(volume.shape)} and predictions {tuple(predictions.shape)} differ in spatial shape."
        )
    image = [p[0] for p in central_slices(volume)]
    predicted = central_slices(predictions)
    values = np.concatenate([p.ravel() for p in predicted])
    probabilities = values.size > 0 and float(np.nanmin(values)) >= 0.0 and float(np.nanmax(values)) <= 1.0
    panels = [_panel(*_scaled(image, probabilities=False))]
    for channel in range(min(predictions.shape[0], max_channels)):
        panels.append(_panel(*_scaled([p[channel] for p in predicted], probabilities)))
    factor = min(1.0, max_size / max(panels[0].shape))
    if factor < 1.0:
        shape = tuple(max(1, round(s * factor)) for s in panels[0].shape)
        panels = [resize(p, shape, order=1, anti_aliasing=True, preserve_range=True) for p in panels]
    height = panels[0].shape[0]
    canvas = np.ones((height, sum(p.shape[1] for p in panels) + GAP * (len(panels) - 1)), dtype=np.float32)
    column = 0
    for panel in panels:
        canvas[:, column : column + panel.shape[1]] = panel
        column += panel.shape[1] + GAP
    return np.rint(np.clip(canvas, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_preview(path: str | PathLike, image: np.ndarray) -> Path:
    """Write ``image`` as a PNG under a temporary name in the same folder, then rename it to ``path``."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as temporary:
        imsave(temporary, image, check_contrast=False)
    return path
