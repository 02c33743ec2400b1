"""A progress bar for the trainer that shows the running loss."""

from __future__ import annotations

from typing import Any

from ignite.engine import Engine, Events
from ignite.handlers import ProgressBar

from .nonfinite_loss import _first_loss

__all__ = ["LossProgressBar"]


def _loss_value(output: Any) -> dict[str, float]:
    loss = _first_loss(output)
    if loss is None:
        return {}
    return {"loss": float(loss.detach().float().mean()) if hasattr(loss, "detach") else float(loss)}


class LossProgressBar:
    """Per-epoch tqdm progress bar of an engine, with the current loss (ignite's ``ProgressBar``).

    Args:
        persist: keep the finished bar of each epoch on screen.
        show_loss: show the loss (for the trainer; set False for evaluators, whose output has no loss).
    """

    def __init__(self, persist: bool = False, show_loss: bool = True) -> None:
        self.bar = ProgressBar(persist=persist)
        self.show_loss = show_loss

    def attach(self, engine: Engine) -> None:
        self.bar.attach(engine, output_transform=_loss_value if self.show_loss else None)
        engine.add_event_handler(Events.TERMINATE, self._close)

    def _close(self, engine: Engine) -> None:
        # a run stopped in mid-epoch closes its bar now, not at exit after the messages that follow
        if self.bar.pbar is not None:
            self.bar.pbar.close()
            self.bar.pbar = None
