"""pytorch-3dunet's stopping rules for a MONAI trainer whose validations run every so many iterations."""

from __future__ import annotations

from ignite.engine import Engine, Events
from torch.optim import Optimizer

__all__ = ["TrainingLimits"]


class TrainingLimits:
    """Stop training after ``max_iterations`` iterations, or when the learning rate falls below ``min_lr``, as
    pytorch-3dunet's trainer did (``max_num_iterations`` and its fixed minimum learning rate of 1e-6); the epoch
    limit is the trainer's own ``max_epochs`` (``max_num_epochs``).

    Validations run every ``validate_after_iters`` iterations (MONAI's ``ValidationHandler`` with
    ``epoch_level=False``); when training stops between two of them, this validates once more, so that the last
    weights are scored and checkpointed (pytorch-3dunet discarded the iterations after the last validation).

    Args:
        validator: the evaluator the ``ValidationHandler`` runs.
        validate_after_iters: the ``ValidationHandler``'s interval in iterations.
        max_iterations: the last iteration.
        optimizer: the optimizer whose first parameter group's learning rate is watched.
        min_lr: training stops once the learning rate is below this.

    Example::

        TrainingLimits(evaluator, validate_after_iters=1000, max_iterations=150000, optimizer=opt).attach(trainer)
    """

    def __init__(
        self,
        validator: Engine,
        validate_after_iters: int,
        max_iterations: int,
        optimizer: Optimizer,
        min_lr: float = 1e-6,
    ) -> None:
        for name, value in (("validate_after_iters", validate_after_iters), ("max_iterations", max_iterations)):
            if isinstance(value, bool) or int(value) != value or int(value) < 1:
                raise ValueError(f"{name} must be a positive number of iterations, got {value!r}.")
        self.validator = validator
        self.validate_after_iters = int(validate_after_iters)
        self.max_iterations = int(max_iterations)
        self.optimizer = optimizer
        self.min_lr = float(min_lr)
        self._validated_at: int | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    def iteration_completed(self, engine: Engine) -> None:
        lr = float(self.optimizer.param_groups[0]["lr"])
        if engine.state.iteration >= self.max_iterations or lr < self.min_lr:
            self.completed(engine)
            engine.terminate()

    def completed(self, engine: Engine) -> None:
        iteration = engine.state.iteration
        if iteration % self.validate_after_iters != 0 and self._validated_at != iteration:
            self.validator.run(engine.state.epoch)
        self._validated_at = iteration
