"""Validate once more when training ends between two scheduled validations."""

from __future__ import annotations

from ignite.engine import Engine, Events

__all__ = ["FinalValidation"]


class FinalValidation:
    """Run the validator when the trainer completes, unless its last epoch was already validated.

    MONAI's ``ValidationHandler(interval=k)`` validates every ``k`` epochs, so a run of ``epochs`` that is not a
    multiple of ``k`` would end with epochs whose weights are never scored or checkpointed (and a run shorter
    than ``k`` epochs would write no checkpoint at all). Attach this after the ``ValidationHandler``.

    Args:
        validator: the evaluator that the ``ValidationHandler`` runs.
        interval: the ``ValidationHandler``'s interval in epochs.

    Example::

        FinalValidation(evaluator, interval=2).attach(trainer)
    """

    def __init__(self, validator: Engine, interval: int) -> None:
        if int(interval) < 1:
            raise ValueError(f"interval must be a positive number of epochs, got {interval!r}.")
        self.validator = validator
        self.interval = int(interval)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if engine.state.epoch % self.interval != 0:
            self.validator.run(engine.state.epoch)
