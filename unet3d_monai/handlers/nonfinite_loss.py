"""Stop training with a clear message when the loss stops being a finite number."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from ignite.engine import Engine, Events

__all__ = ["NonFiniteLossError", "StopOnNonFiniteLoss"]


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss is NaN or infinite."""


def _first_loss(output: Any) -> Any:
    if isinstance(output, list | tuple) and output:
        output = output[0]
    if isinstance(output, dict):
        return output.get("loss")
    return output


class StopOnNonFiniteLoss:
    """Stop the trainer as soon as the loss is NaN or infinite, naming the iteration.

    Ignite's ``TerminateOnNan`` ends the run quietly; this handler raises :class:`NonFiniteLossError`, so the
    command fails with a message such as ``loss became nan at iteration 17 (epoch 2)`` and no checkpoint is
    written from the corrupted weights (checkpoints are only written after validation).

    Args:
        output_transform: maps ``engine.state.output`` to the loss (a tensor or number). The default reads the
            ``"loss"`` entry that MONAI's ``SupervisedTrainer`` stores.
    """

    def __init__(self, output_transform: Callable[[Any], Any] = _first_loss) -> None:
        self.output_transform = output_transform

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        loss = self.output_transform(engine.state.output)
        if loss is None:
            return
        value = float(loss.detach().float().mean()) if isinstance(loss, torch.Tensor) else float(loss)
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"loss became {value} at iteration {engine.state.iteration} (epoch {engine.state.epoch}); "
                "training stopped before any checkpoint was written from these weights: lower the learning rate, "
                "check the input normalisation, or look for NaN/Inf in the data."
            )
