"""Per-class values of the validation metrics in TensorBoard."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from ignite.engine import Engine, Events
from torch.utils.tensorboard import SummaryWriter

__all__ = ["TensorBoardClassMetrics"]


class TensorBoardClassMetrics:
    """After each evaluation, write every metric's value per class as ``<metric>/<class name>``.

    MONAI's metric handlers with ``save_details=True`` keep the per-item values of each metric in
    ``engine.state.metric_details[name]``, shaped ``(items, classes)``; ``TensorBoardStatsHandler`` logs only the
    mean. For each metric with more than one class this handler writes the mean over the items of each class
    (ignoring NaN, i.e. items where the class is absent) at the evaluator's epoch (the trainer's epoch when run by
    MONAI's ``ValidationHandler``). One-class metrics are left to ``TensorBoardStatsHandler``. Attach it to the
    evaluator.

    Args:
        summary_writer: the TensorBoard writer shared with the other handlers.
        class_names: names of the classes in channel order; default ``class_0``, ``class_1``, ...

    Example::

        TensorBoardClassMetrics(writer, class_names=["background", "cells", "nuclei"]).attach(evaluator)
    """

    def __init__(self, summary_writer: SummaryWriter, class_names: Sequence[str] | None = None) -> None:
        self.writer = summary_writer
        self.class_names = None if class_names is None else [str(n) for n in class_names]

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def class_name(self, index: int) -> str:
        if self.class_names is not None and index < len(self.class_names):
            return self.class_names[index]
        return f"class_{index}"

    def __call__(self, engine: Engine) -> None:
        details = getattr(engine.state, "metric_details", None) or {}
        for name, values in details.items():
            values = torch.as_tensor(values, dtype=torch.float64)
            if values.ndim != 2 or values.shape[1] < 2:
                continue
            for index, value in enumerate(torch.nanmean(values, dim=0).tolist()):
                self.writer.add_scalar(f"{name}/{self.class_name(index)}", value, engine.state.epoch)
        self.writer.flush()
