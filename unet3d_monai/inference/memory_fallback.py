"""Prediction that survives running out of GPU memory: smaller window batches, then smaller windows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from monai.inferers import sliding_window_inference
from torch import nn

__all__ = ["OutOfMemoryFallback"]

logger = logging.getLogger(__name__)


class OutOfMemoryFallback(nn.Module):
    """Wraps a window predictor (``(B, C_in, Z, Y, X)`` -> ``(B, C_out, Z, Y, X)``) so that a CUDA out-of-memory
    error halves the window batch, then the window, and prediction goes on.

    The sliding-window engine keeps every window already predicted; only the batch that failed is predicted
    again: in halves of the batch (the same result), and once a single window does not fit, with Gaussian-blended
    sub-windows of half its size along its longest axes (never below ``min_window``). The smaller batch and window
    stay for the rest of the run. Each step is said in one log line.

    A module, so that an evaluator or ``eval()`` reaches the network inside; the prediction chain of the bundles'
    ``inference.json`` hands it to the inferer as the per-window network.

    Args:
        predictor: the window predictor (e.g. :class:`~unet3d_monai.inference.window_predictor.WindowPredictor`).
        min_window: the smallest window the network accepts, ``(Z, Y, X)``.
        overlap: overlap of the sub-windows.
        is_out_of_memory: which errors count as running out of memory (``torch.OutOfMemoryError`` by default).

    Example::

        predictor = OutOfMemoryFallback(WindowPredictor(network), min_window=(8, 8, 8))
        inferer(volume, predictor)
    """

    def __init__(
        self,
        predictor: Callable[[torch.Tensor], torch.Tensor],
        min_window: Sequence[int] = (1, 1, 1),
        overlap: float = 0.25,
        is_out_of_memory: Callable[[BaseException], bool] | None = None,
    ) -> None:
        super().__init__()
        self.predictor = predictor
        self.network = getattr(predictor, "network", None)
        self.min_window = tuple(int(m) for m in min_window)
        self.overlap = overlap
        self.is_out_of_memory = is_out_of_memory or (lambda error: isinstance(error, torch.OutOfMemoryError))
        self.max_batch: int | None = None
        self.window: tuple[int, ...] | None = None

    def _free(self, windows: torch.Tensor) -> None:
        if windows.device.type == "cuda":
            torch.cuda.empty_cache()

    def _one_batch(self, windows: torch.Tensor) -> torch.Tensor:
        if self.window is not None and any(w > s for w, s in zip(windows.shape[2:], self.window)):
            return sliding_window_inference(
                windows, self.window, 1, self.predictor, overlap=self.overlap, mode="gaussian"
            )
        return self.predictor(windows)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        if self.max_batch is not None and windows.shape[0] > self.max_batch:
            return torch.cat([self(part) for part in torch.split(windows, self.max_batch)])
        try:
            return self._one_batch(windows)
        except Exception as error:
            if not self.is_out_of_memory(error):
                raise
            self._free(windows)
        if windows.shape[0] > 1:
            self.max_batch = max(1, windows.shape[0] // 2)
            logger.warning("Out of memory: predicting %d windows at a time from now on.", self.max_batch)
            return self(windows)
        current = self.window or tuple(windows.shape[2:])
        longest = max(current)
        smaller = tuple(max(m, (c + 1) // 2) if c == longest else c for c, m in zip(current, self.min_window))
        if smaller == current:
            raise torch.OutOfMemoryError(
                f"Out of memory with one window of the smallest size {list(current)} the network accepts."
            )
        self.window = smaller
        logger.warning("Out of memory: predicting each window in sub-windows of %s from now on.", list(smaller))
        return self(windows)
