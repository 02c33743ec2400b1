"""TensorBoard images of the middle z-slice of input, target and prediction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events
from torch.utils.tensorboard import SummaryWriter

__all__ = ["TensorBoardSliceHandler", "middle_slice"]


def middle_slice(volume: torch.Tensor | np.ndarray) -> np.ndarray:
    """The middle z-slice of a channel-first volume, each channel scaled to [0, 1].

    Args:
        volume: ``(C, Z, Y, X)`` or 2D ``(C, Y, X)``.

    Returns:
        ``(C, Y, X)`` float32 array in [0, 1] (a constant channel becomes zeros).
    """
    array = volume.detach().cpu().float().numpy() if isinstance(volume, torch.Tensor) else np.asarray(volume)
    if array.ndim == 4:
        array = array[:, array.shape[1] // 2]
    if array.ndim != 3:
        raise ValueError(f"expected a (C, Z, Y, X) or (C, Y, X) volume, got shape {tuple(array.shape)}.")
    array = array.astype(np.float32)
    low = array.min(axis=(1, 2), keepdims=True)
    span = array.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (array - low) / np.where(span > 0, span, 1), 0.0).astype(np.float32)


def _first_item(output: Any) -> dict:
    return output[0] if isinstance(output, list | tuple) else output


class TensorBoardSliceHandler:
    """After each evaluation, write the middle z-slice of the first volume's input, target and prediction.

    Every channel becomes one grayscale image ``<tag>/<key>/<channel>`` at the trainer's epoch, so a boundary
    target with its appended instance labels shows both. Attach it to the evaluator; ``global_step_engine`` (the
    trainer) provides the step.

    Args:
        summary_writer: the TensorBoard writer.
        keys: entries of the decollated evaluator output to show (MONAI evaluators keep ``image``, ``label`` and
            ``pred``).
        global_step_engine: engine whose epoch is the step; defaults to the evaluator's own epoch (which MONAI's
            ``ValidationHandler`` sets to the trainer's epoch).
        tag: prefix of the image names.
        max_channels: at most this many channels per key.
        output_transform: maps the engine output to the item dict, default: the first item of the batch.
    """

    def __init__(
        self,
        summary_writer: SummaryWriter,
        keys: Sequence[str] = ("image", "label", "pred"),
        global_step_engine: Engine | None = None,
        tag: str = "val",
        max_channels: int = 4,
        output_transform: Callable[[Any], dict] = _first_item,
    ) -> None:
        self.writer = summary_writer
        self.keys = tuple(keys)
        self.global_step_engine = global_step_engine
        self.tag = tag
        self.max_channels = max_channels
        self.output_transform = output_transform

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._forget)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._remember)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def _forget(self, engine: Engine) -> None:
        self._item: dict = {}

    def _remember(self, engine: Engine) -> None:
        if self._item:
            return
        item = self.output_transform(engine.state.output)
        self._item = {k: item[k] for k in self.keys if k in item}

    def __call__(self, engine: Engine) -> None:
        item = getattr(self, "_item", None)
        if not item:
            return
        step = (self.global_step_engine or engine).state.epoch
        for key, value in item.items():
            for channel, image in enumerate(middle_slice(value)[: self.max_channels]):
                self.writer.add_image(f"{self.tag}/{key}/{channel}", image[None], step, dataformats="CHW")
        self.writer.flush()
        self._item = {}
