"""The training state written between validations: every few iterations or minutes, at each epoch end, and when
the run is asked to stop (Ctrl-C, SIGTERM)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import ignite.distributed as idist
from ignite.engine import Engine, Events

from .checkpoint import BestAndLastCheckpointer

__all__ = ["TrainingStateSaver"]

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingStateSaver:
    """Write the checkpointer's training state (``last.pt``) often enough that little work is ever lost.

    :class:`~unet3d_monai.handlers.BestAndLastCheckpointer` writes ``last.pt`` after every validation; this handler
    writes it also

    - every ``every_n_iterations`` iterations (0: never on that account),
    - when ``every_minutes`` minutes have passed since the last write (0: never on that account),
    - at the end of every epoch (after the epoch's validation, if any),
    - and when the process receives SIGINT (Ctrl-C) or SIGTERM (a scheduler ending the job): the current
      iteration (or validation) finishes, ``last.pt`` is written, and the trainer stops. A second signal stops
      at once, as without this handler.

    Writes happen between two iterations, after every handler of the previous iteration and epoch ran, so that
    the state written is exactly the state the next iteration starts from: resuming from any ``last.pt`` (with the
    bundles' ``--resume true``) continues as the uninterrupted run would have. In distributed runs every process
    stops at the same iteration and only rank 0 writes.

    After a stop on a signal the trainer's ``run()`` returns; :meth:`exit_if_interrupted` (the bundles call it
    last in ``finalize``) then prints how to resume and exits with status ``128 + signal number``.

    Args:
        checkpointer: the checkpointer whose :meth:`~BestAndLastCheckpointer.save_last` writes the state.
        every_n_iterations: write every this many iterations; 0 turns this off.
        every_minutes: write when this many minutes passed since the last write; 0 turns this off.
        handle_signals: stop cleanly on SIGINT/SIGTERM (only possible in the main thread).
        clock: seconds from a monotonic clock.

    Example::

        saver = BestAndLastCheckpointer("models", net, {"network": net, "optimizer": opt}, False, evaluator)
        saver.attach(trainer)
        TrainingStateSaver(saver, every_n_iterations=100, every_minutes=5).attach(trainer)
    """

    def __init__(
        self,
        checkpointer: BestAndLastCheckpointer,
        every_n_iterations: int = 0,
        every_minutes: float = 5.0,
        handle_signals: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(every_n_iterations, bool) or not isinstance(every_n_iterations, int) or every_n_iterations < 0:
            raise ValueError(
                f"save_every_iterations must be a whole number of iterations (0 for never), got {every_n_iterations!r}."
            )
        if isinstance(every_minutes, bool) or not isinstance(every_minutes, int | float) or not every_minutes >= 0:
            raise ValueError(f"save_every_minutes must be a number of minutes (0 for never), got {every_minutes!r}.")
        self.checkpointer = checkpointer
        self.every_n_iterations = every_n_iterations
        self.every_seconds = 60.0 * float(every_minutes)
        self.handle_signals = handle_signals
        self.clock = clock
        self.stop_signal: int | None = None
        self.interrupted = False
        self._last_write: tuple[int, float] = (0, 0.0)
        self._previous_handlers: dict[int, Any] = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.GET_BATCH_STARTED, self._between_iterations)
        engine.add_event_handler(Events.COMPLETED, self._completed)
        engine.add_event_handler(Events.TERMINATE, self._terminated)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._exception_raised)

    # ---- when to write ------------------------------------------------------------------------------------------
    def _started(self, engine: Engine) -> None:
        self.stop_signal, self.interrupted = None, False
        self._last_write = (engine.state.iteration, self.clock())
        if self.handle_signals:
            self._install_signal_handlers()

    def _last_written(self) -> tuple[int, float]:
        """Iteration and time of the latest write, ours or the checkpointer's after a validation."""
        validated = self.checkpointer.last_saved_iteration
        if validated is not None and validated > self._last_write[0]:
            self._last_write = (validated, self.clock())
        return self._last_write

    def _due(self, engine: Engine) -> bool:
        iteration = engine.state.iteration
        last_iteration, last_time = self._last_written()
        if iteration <= last_iteration:
            return False
        epoch_end = bool(engine.state.epoch_length) and iteration % engine.state.epoch_length == 0
        every_n = self.every_n_iterations > 0 and iteration % self.every_n_iterations == 0
        overdue = self.every_seconds > 0 and self.clock() - last_time >= self.every_seconds
        return epoch_end or every_n or overdue

    def _between_iterations(self, engine: Engine) -> None:
        stop = self._stop_requested()
        unsaved = self._last_written()[0] < engine.state.iteration or not self.checkpointer.last_path.exists()
        if (stop and unsaved) or self._due(engine):
            self._write(engine)
        if stop:
            self.interrupted = True
            logger.warning(
                f"stopped after iteration {engine.state.iteration}; training state saved in {self.last_path}"
            )
            engine.terminate(skip_completed=True)

    def _completed(self, engine: Engine) -> None:
        if self._last_written()[0] < engine.state.iteration:
            self._write(engine)
        self._restore_signal_handlers()

    def _terminated(self, engine: Engine) -> None:
        self._restore_signal_handlers()

    def _exception_raised(self, engine: Engine, error: BaseException) -> None:
        self._restore_signal_handlers()
        raise error

    def _write(self, engine: Engine) -> None:
        self.checkpointer.save_last()
        self._last_write = (engine.state.iteration, self.clock())

    @property
    def last_path(self) -> str:
        return str(self.checkpointer.last_path)

    # ---- stopping on a signal -----------------------------------------------------------------------------------
    def _stop_requested(self) -> bool:
        stop = self.stop_signal is not None
        if idist.get_world_size() > 1:  # every process stops at the same iteration, or the collectives hang
            stop = bool(idist.all_reduce(int(stop), op="MAX"))
            if stop and self.stop_signal is None:
                self.stop_signal = int(signal.SIGTERM)
        return stop

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread() or self._previous_handlers:
            return
        for signum in STOP_SIGNALS:
            # a signal the process was started to ignore (nohup, a background job of a script) stays ignored
            if signal.getsignal(signum) is not signal.SIG_IGN:
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_signal is not None:  # asked twice: stop at once, as without this handler
            self._restore_signal_handlers()
            signal.raise_signal(signum)
            return
        self.stop_signal = signum
        logger.warning(
            f"{signal.Signals(signum).name} received: training stops after the current iteration (or validation) "
            f"and saves its state in {self.last_path}; send it again to stop at once."
        )

    def resume_hint(self) -> str:
        """The sentence printed when training stopped on a signal."""
        name = signal.Signals(self.stop_signal).name if self.stop_signal is not None else "a signal"
        trainer = self.checkpointer.save_dict.get("trainer")
        where = (
            f" after iteration {trainer.state.iteration} (epoch {trainer.state.epoch})"
            if isinstance(trainer, Engine)
            else ""
        )
        return (
            f"Training stopped by {name}{where} and saved its state in {self.last_path}: run the same command with "
            "--resume true to continue exactly where it stopped."
        )

    def exit_if_interrupted(self) -> None:
        """Print :meth:`resume_hint` and exit with status ``128 + signal`` when training stopped on a signal."""
        if not self.interrupted:
            return
        print(self.resume_hint(), file=sys.stderr, flush=True)
        raise SystemExit(128 + int(self.stop_signal or signal.SIGINT))
