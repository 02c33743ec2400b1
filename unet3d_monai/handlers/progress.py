"""A progress bar for the trainer that shows the running loss."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

from ignite.engine import Engine, Events
from ignite.handlers import ProgressBar

from .nonfinite_loss import _first_loss

__all__ = ["LossProgressBar"]

logger = logging.getLogger(__name__)


def _loss_value(output: Any) -> dict[str, float]:
    loss = _first_loss(output)
    if loss is None:
        return {}
    return {"loss": float(loss.detach().float().mean()) if hasattr(loss, "detach") else float(loss)}


class LossProgressBar:
    """Progress of an engine's epochs with the current loss: a tqdm bar (ignite's ``ProgressBar``) on a terminal,
    one log line at most every ``log_seconds`` otherwise.

    A bar redrawn with carriage returns fills a log file (a batch job's output, ``nohup``, CI) with thousands of
    overwritten lines; there, a line such as ``epoch 6/20, iteration 11/20: loss 0.4091, 3.12 s/iteration`` is
    logged instead, and the epoch's summary comes from the bundle's ``StatsHandler`` as before.

    Args:
        persist: keep the finished bar of each epoch on screen.
        show_loss: show the loss (for the trainer; set False for evaluators, whose output has no loss).
        log_seconds: least time between two progress lines when the output is not a terminal.
        stream: where the bar is drawn; its ``isatty()`` chooses between bar and lines (default: standard error).

    Example::

        LossProgressBar(persist=True).attach(trainer)
    """

    def __init__(
        self, persist: bool = False, show_loss: bool = True, log_seconds: float = 60.0, stream: TextIO | None = None
    ) -> None:
        self.persist = persist
        self.show_loss = show_loss
        self.log_seconds = float(log_seconds)
        self.stream = stream
        self.bar: ProgressBar | None = None
        self._last_line = 0.0
        self._epoch_start = 0.0
        self._epoch_iterations = 0

    def _on_terminal(self) -> bool:
        stream = self.stream if self.stream is not None else sys.stderr
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())

    def attach(self, engine: Engine) -> None:
        if self._on_terminal():
            self.bar = ProgressBar(persist=self.persist, file=self.stream)
            self.bar.attach(engine, output_transform=_loss_value if self.show_loss else None)
            engine.add_event_handler(Events.TERMINATE, self._close)
            return
        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._log_line)

    def _epoch_started(self, engine: Engine) -> None:
        self._epoch_start = self._last_line = time.monotonic()
        self._epoch_iterations = 0

    def _log_line(self, engine: Engine) -> None:
        self._epoch_iterations += 1
        now = time.monotonic()
        if now - self._last_line < self.log_seconds:
            return
        self._last_line = now
        state = engine.state
        length = state.epoch_length or 0
        within = (state.iteration - 1) % length + 1 if length else self._epoch_iterations
        loss = _loss_value(state.output).get("loss") if self.show_loss else None
        speed = (now - self._epoch_start) / max(self._epoch_iterations, 1)
        logger.info(
            f"epoch {state.epoch}/{state.max_epochs}, iteration {within}/{length or '?'}: "
            + (f"loss {loss:.4f}, " if loss is not None else "")
            + f"{speed:.2f} s/iteration"
        )

    def _close(self, engine: Engine) -> None:
        # a run stopped in mid-epoch closes its bar now, not at exit after the messages that follow
        if self.bar is not None and self.bar.pbar is not None:
            self.bar.pbar.close()
            self.bar.pbar = None
