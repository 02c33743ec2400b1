"""The mean training loss of each epoch, published with the engine's metrics and kept across a resume."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ignite.engine import Engine, Events

from .training_loss import training_loss

__all__ = ["EpochLossMean"]


class EpochLossMean:
    """Average the training loss over each epoch and publish it as ``engine.state.metrics[name]``.

    MONAI's ``StatsHandler`` and ``TensorBoardStatsHandler`` log the engine's metrics at every epoch end, so
    with this handler attached before them the epoch mean appears on the console and as the TensorBoard scalar
    ``name`` (step: epoch) next to the per-iteration loss.

    The running sum and count live in the engine's state and are part of the trainer's ``state_dict()``
    (ignite's ``state_dict_user_keys``): a run stopped in the middle of an epoch and resumed from its checkpoint
    publishes the same mean for that epoch as the uninterrupted run.

    Args:
        name: metric name (and TensorBoard tag).
        output_transform: maps ``engine.state.output`` to the loss as a number.

    Example::

        EpochLossMean().attach(trainer)   # trainer.state.metrics["train_loss_epoch"] after each epoch
    """

    def __init__(
        self, name: str = "train_loss_epoch", output_transform: Callable[[Any], float] = training_loss
    ) -> None:
        self.name = name
        self.output_transform = output_transform
        self.sum_key = f"{name}_sum"
        self.count_key = f"{name}_count"

    def attach(self, engine: Engine) -> None:
        for key in (self.sum_key, self.count_key):
            if key not in engine.state_dict_user_keys:
                engine.state_dict_user_keys.append(key)
        self._reset(engine)
        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)

    def _reset(self, engine: Engine) -> None:
        setattr(engine.state, self.sum_key, 0.0)
        setattr(engine.state, self.count_key, 0)

    def _epoch_started(self, engine: Engine) -> None:
        # a run resumed in the middle of an epoch keeps the restored sum of that epoch's first iterations
        if engine.state.epoch_length is None or engine.state.iteration % engine.state.epoch_length == 0:
            self._reset(engine)

    def _iteration_completed(self, engine: Engine) -> None:
        setattr(
            engine.state, self.sum_key, getattr(engine.state, self.sum_key) + self.output_transform(engine.state.output)
        )
        setattr(engine.state, self.count_key, getattr(engine.state, self.count_key) + 1)

    def _epoch_completed(self, engine: Engine) -> None:
        count = getattr(engine.state, self.count_key)
        if count:
            engine.state.metrics[self.name] = getattr(engine.state, self.sum_key) / count
