"""Window predictors for the cluster tests: picklable by reference, so that Dask workers import them from here."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


class Interrupted(RuntimeError):
    pass


class CountingPredictor:
    """Predicts windows and records each call's window count as a file in ``calls`` (calls run in other processes);
    raises :class:`Interrupted` once ``stop_after_blocks`` partials exist in ``partials``."""

    def __init__(self, predictor, calls, partials=None, stop_after_blocks=None):
        self.predictor, self.calls = predictor, str(calls)
        self.partials, self.stop_after_blocks = None if partials is None else str(partials), stop_after_blocks

    def __call__(self, windows):
        if self.stop_after_blocks is not None:
            folder = Path(self.partials)
            if folder.is_dir() and len(list(folder.glob("block-*.npy"))) >= self.stop_after_blocks:
                raise Interrupted("stopped")
        Path(self.calls, f"{uuid.uuid4().hex}.{windows.shape[0]}").touch()
        return self.predictor(windows)

    def windows(self) -> int:
        """Windows predicted so far, over every process."""
        return sum(int(p.suffix[1:]) for p in Path(self.calls).iterdir())


class KillWorkerOnce:
    """Predicts windows; the first call anywhere (no ``marker`` file yet) kills its worker process mid-block."""

    def __init__(self, predictor, marker):
        self.predictor, self.marker = predictor, str(marker)

    def __call__(self, windows):
        try:
            with open(self.marker, "x"):
                pass
        except FileExistsError:
            return self.predictor(windows)
        os._exit(1)


def interrupt_after(predictor, calls: int) -> None:
    """Make ``predictor`` (a ``VolumePredictor``) raise ``KeyboardInterrupt`` on its window predictor's call number
    ``calls + 1``, as a user's Ctrl-C in the middle of a run."""
    forward = predictor.window_predictor.forward
    made = []

    def interrupted(windows):
        made.append(1)
        if len(made) > calls:
            raise KeyboardInterrupt
        return forward(windows)

    predictor.window_predictor.forward = interrupted
