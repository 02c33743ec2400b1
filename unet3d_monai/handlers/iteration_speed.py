"""Iteration time, data-loading time and samples per second of the trainer, in TensorBoard."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from ignite.engine import Engine, Events
from torch.utils.tensorboard import SummaryWriter

__all__ = ["IterationSpeedLogger", "batch_size_of"]


def batch_size_of(batch: Any) -> int:
    """Number of samples in a collated batch: the first dimension of its first tensor.

    Example:
        >>> batch_size_of({"image": torch.zeros(2, 1, 8, 8, 8), "label": torch.zeros(2, 1, 8, 8, 8)})
        2
    """
    if isinstance(batch, torch.Tensor):
        if batch.ndim == 0:
            raise ValueError("a batch tensor needs a batch dimension, got a 0-d tensor.")
        return int(batch.shape[0])
    values = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, list | tuple) else ()
    for value in values:
        if isinstance(value, torch.Tensor) and value.ndim > 0:
            return int(value.shape[0])
    raise ValueError(f"cannot tell the number of samples of a batch of type {type(batch).__name__}.")


class IterationSpeedLogger:
    """Write, for every iteration, how long it took and how fast samples went through, as TensorBoard scalars.

    - ``<prefix>iteration_time``: seconds from asking the data loader for the batch to the end of the iteration
      (loading, forward, backward, optimizer step and the iteration's handlers before this one);
    - ``<prefix>data_time``: seconds of that spent waiting for the batch (high values: the loader is too slow);
    - ``<prefix>samples_per_second``: the batch's samples divided by the iteration time.

    Steps are the engine's iterations. Attach it to the trainer.

    Args:
        summary_writer: the TensorBoard writer shared with the other handlers.
        prefix: start of the tags.
        batch_transform: maps ``engine.state.batch`` to its number of samples.
        clock: seconds from a monotonic clock.

    Example::

        IterationSpeedLogger(SummaryWriter("runs")).attach(trainer)
    """

    def __init__(
        self,
        summary_writer: SummaryWriter,
        prefix: str = "train_",
        batch_transform: Callable[[Any], int] = batch_size_of,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.writer = summary_writer
        self.prefix = prefix
        self.batch_transform = batch_transform
        self.clock = clock
        self._fetch_started: float | None = None
        self._fetch_completed: float | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.GET_BATCH_STARTED, self._batch_started)
        engine.add_event_handler(Events.GET_BATCH_COMPLETED, self._batch_completed)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def _batch_started(self, engine: Engine) -> None:
        self._fetch_started = self.clock()

    def _batch_completed(self, engine: Engine) -> None:
        self._fetch_completed = self.clock()

    def __call__(self, engine: Engine) -> None:
        if self._fetch_started is None or self._fetch_completed is None:
            return
        elapsed = self.clock() - self._fetch_started
        step = engine.state.iteration
        self.writer.add_scalar(f"{self.prefix}iteration_time", elapsed, step)
        self.writer.add_scalar(f"{self.prefix}data_time", self._fetch_completed - self._fetch_started, step)
        if elapsed > 0:
            self.writer.add_scalar(
                f"{self.prefix}samples_per_second", self.batch_transform(engine.state.batch) / elapsed, step
            )
        self._fetch_started = self._fetch_completed = None
