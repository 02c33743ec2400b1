"""Write the optimizer's learning rate to TensorBoard."""

from __future__ import annotations

from ignite.engine import Engine, Events
from torch.optim import Optimizer
from torch.utils.tensorboard import SummaryWriter

__all__ = ["LearningRateLogger"]


class LearningRateLogger:
    """Log the learning rate of each parameter group as the scalar ``learning_rate`` (``learning_rate/<i>``
    for more than one group) once per epoch of the engine it is attached to (the trainer).

    Args:
        optimizer: the optimizer whose ``lr`` is logged.
        summary_writer: the TensorBoard writer shared with the other TensorBoard handlers.
        tag: scalar name.
    """

    def __init__(self, optimizer: Optimizer, summary_writer: SummaryWriter, tag: str = "learning_rate") -> None:
        self.optimizer = optimizer
        self.writer = summary_writer
        self.tag = tag

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        groups = self.optimizer.param_groups
        for i, group in enumerate(groups):
            tag = self.tag if len(groups) == 1 else f"{self.tag}/{i}"
            self.writer.add_scalar(tag, float(group["lr"]), engine.state.epoch)
        self.writer.flush()
