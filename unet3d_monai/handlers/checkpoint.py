"""Crash-safe checkpoints: the best network by the key validation metric, and the full training state."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from monai.handlers import CheckpointLoader

from unet3d_monai.compat.checkpoint_file import load_checkpoint_file
from unet3d_monai.inference.model_record import write_model_record
from unet3d_monai.io.atomic import atomic_write

from .random_states import RandomStates

__all__ = ["BestAndLastCheckpointer", "TrainingStateLoader", "atomic_torch_save"]

logger = logging.getLogger(__name__)
#: what :class:`TrainingStateLoader` expects to read, as its error says
TRAINING_STATE = "the training state that training writes beside the weights (last.pt)"


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """Save ``obj`` with :func:`torch.save` so that ``path`` is never left half-written.

    The object is written to a temporary file in the same folder, flushed to disk, and renamed over ``path``
    (an atomic operation on POSIX file systems; see :func:`~unet3d_monai.io.atomic.atomic_write`). A process
    killed at any moment leaves either the previous file or the new one, never a truncated one.

    Example::

        atomic_torch_save(network.state_dict(), "models/model.pt")
    """
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        torch.save(obj, handle)
    return path


def _unwrap(network: torch.nn.Module) -> torch.nn.Module:
    """The module inside DataParallel / DistributedDataParallel, so that saved keys carry no ``module.``."""
    return network.module if hasattr(network, "module") else network


class BestAndLastCheckpointer:
    """Save the best network and the full training state after every validation.

    Attach it to the trainer and give it the ``validator`` (the evaluator that computes the key validation metric
    on whole volumes); the trainer itself is then saved as ``"trainer"``, with the process's random generators
    (``"random_states"``, see :class:`~unet3d_monai.handlers.RandomStates`) and, when the trainer runs with AMP,
    its gradient scaler (``"scaler"``), so that a resumed run continues exactly. Without a validator, attach it to
    the evaluator directly. After each validation run it

    - writes ``<save_dir>/<best_filename>`` (a plain ``state_dict`` of the network) when the key metric improved,
      in the direction the metric declares (``higher_is_better``);
    - writes ``<save_dir>/<last_filename>`` holding every object of ``save_dict`` (network, optimizer, LR
      scheduler, trainer counters, ...) plus this checkpointer's own best score, so that resuming continues
      where training stopped and keeps comparing against the right best score; and with the first of them, when
      ``record`` holds the run's ``plan``, ``<save_dir>/plan.json``, from which a resumed run rebuilds the same
      network.

    Both files are written atomically (temporary file, then rename), so killing the process at any moment never
    leaves a half-written checkpoint. In distributed runs only rank 0 writes. :meth:`save_last` writes the
    training state at any other moment (:class:`~unet3d_monai.handlers.TrainingStateSaver` calls it between
    validations).

    Why not MONAI's ``CheckpointSaver``: with a fixed file name (``key_metric_filename="model.pt"``) it removes
    the previous file before it writes the new one (ignite's ``Checkpoint`` drops the saved item it replaces, then
    saves), so a process killed in between leaves no best model at all, and it does not flush the file to disk
    before the rename; nor can it rewrite one fixed ``last.pt`` after every validation. Resuming does use MONAI's
    ``CheckpointLoader`` (:class:`TrainingStateLoader`).

    Args:
        save_dir: folder for the checkpoints (created if missing).
        network: the trained network (DataParallel/DDP wrappers are unwrapped for the best-model file).
        save_dict: objects with ``state_dict()`` saved in the training-state file, e.g.
            ``{"network": net, "optimizer": opt, "lr_scheduler": sched, "trainer": trainer}``. Include the
            checkpointer itself under ``"checkpointer"`` to restore the best score on resume.
        higher_is_better: direction of the key metric.
        validator: the evaluator whose key metric is read; None when the checkpointer is attached to it directly.
        best_filename: name of the best-network file.
        last_filename: name of the training-state file.
        record: written as the model record beside the best network (``model.json``, see
            :func:`unet3d_monai.inference.write_model_record`): ``{"patch_size": ..., "normalization": ...,
            "task": ...}``; None writes no record.

    Example::

        saver = BestAndLastCheckpointer("models", net, {"network": net, "optimizer": opt},
                                        higher_is_better=False, validator=evaluator)
        saver.attach(trainer)
    """

    def __init__(
        self,
        save_dir: str | os.PathLike,
        network: torch.nn.Module,
        save_dict: Mapping[str, Any],
        higher_is_better: bool,
        validator: Engine | None = None,
        best_filename: str = "model.pt",
        last_filename: str = "last.pt",
        record: Mapping[str, Any] | None = None,
    ) -> None:
        for name, obj in save_dict.items():
            if not hasattr(obj, "state_dict"):
                raise TypeError(f"save_dict entry {name!r} has no state_dict() method and cannot be checkpointed.")
        self.save_dir = Path(save_dir)
        self.network = network
        self.save_dict = dict(save_dict)
        self.higher_is_better = bool(higher_is_better)
        self.validator = validator
        self.best_filename = best_filename
        self.last_filename = last_filename
        self.record = None if record is None else dict(record)
        self.best_metric: float | None = None
        self.best_epoch: int = -1
        self.last_saved_iteration: int | None = None
        self._plan_saved = False

    @property
    def best_path(self) -> Path:
        return self.save_dir / self.best_filename

    @property
    def last_path(self) -> Path:
        return self.save_dir / self.last_filename

    def attach(self, engine: Engine) -> None:
        if self.validator is None:
            engine.add_event_handler(Events.EPOCH_COMPLETED, self)
        else:
            self.save_dict.update(_run_state(engine, self.save_dict))
            self.validator.add_event_handler(Events.EPOCH_COMPLETED, self)

    def is_improvement(self, value: float) -> bool:
        """Whether ``value`` beats the best score so far in the declared direction (NaN never does)."""
        if math.isnan(value):
            return False
        if self.best_metric is None:
            return True
        return value > self.best_metric if self.higher_is_better else value < self.best_metric

    def __call__(self, engine: Engine) -> None:
        key = getattr(engine.state, "key_metric_name", None)
        if key is None or key not in engine.state.metrics:
            raise KeyError(
                f"BestAndLastCheckpointer needs the evaluator's key metric, but the engine state has metrics "
                f"{sorted(engine.state.metrics)} and key_metric_name={key!r}."
            )
        value = float(engine.state.metrics[key])
        if idist.get_rank() == 0:
            if self.is_improvement(value):
                self.best_metric = value
                self.best_epoch = int(engine.state.epoch)
                atomic_torch_save(_unwrap(self.network).state_dict(), self.best_path)
                if self.record is not None:
                    write_model_record(self.best_path, self.network, **self.record)
                logger.info(f"new best {key}={value:.6g} at epoch {self.best_epoch}: saved {self.best_path}")
            self.save_last()
        elif self.is_improvement(value):
            self.best_metric, self.best_epoch = value, int(engine.state.epoch)

    def save_last(self) -> Path | None:
        """Write the training state (every object of ``save_dict`` and the best score) to :attr:`last_path` now.

        Only rank 0 writes (returns None elsewhere). The trainer's iteration at the save is kept in
        :attr:`last_saved_iteration`.
        """
        trainer = self.save_dict.get("trainer")
        self.last_saved_iteration = int(trainer.state.iteration) if isinstance(trainer, Engine) else None
        if idist.get_rank() != 0:
            return None
        state = {name: _state_of(obj) for name, obj in self.save_dict.items() if obj is not self}
        state["checkpointer"] = self.state_dict()
        saved = atomic_torch_save(state, self.last_path)
        plan = (self.record or {}).get("plan")
        if plan is not None and not self._plan_saved:
            # the plan the run was built with, for a resumed run to rebuild the same network (see plan_training)
            from unet3d_monai.planning.training import PLAN_FILENAME

            with atomic_write(self.save_dir / PLAN_FILENAME, "w") as handle:
                json.dump(plan, handle, indent=1)
            self._plan_saved = True  # the plan does not change during a run
        return saved

    def state_dict(self) -> dict[str, Any]:
        return {"best_metric": self.best_metric, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best_metric = None if state.get("best_metric") is None else float(state["best_metric"])
        self.best_epoch = int(state.get("best_epoch", -1))


class TrainingStateLoader(CheckpointLoader):
    """MONAI's ``CheckpointLoader`` for resuming: restores ``load_dict`` and the engine it is attached to.

    The trainer cannot be listed in its own handlers' arguments in a bundle config (that would be a circular
    reference), so this loader adds the engine it is attached to under ``"trainer"``, and, as
    :class:`BestAndLastCheckpointer` saves them, the process's random generators (``"random_states"``) and the
    trainer's AMP gradient scaler (``"scaler"``). When the checkpoint lacks these two (written without them), they
    are left as they are and a warning says that the resumed run will not repeat the interrupted one exactly.

    Args:
        load_path: the training state written by :class:`BestAndLastCheckpointer` (``last.pt``).
        load_dict: objects to restore, e.g. ``{"network": net, "optimizer": opt, "lr_scheduler": sched,
            "checkpointer": saver}``.
        map_location: passed to ``torch.load``.
    """

    def __init__(self, load_path: str, load_dict: dict, map_location: Any = None) -> None:
        super().__init__(load_path=load_path, load_dict=dict(load_dict), map_location=map_location)

    def attach(self, engine: Engine) -> None:
        self.load_dict.update(_run_state(engine, self.load_dict))
        super().attach(engine)

    def __call__(self, engine: Engine) -> None:
        saved = load_checkpoint_file(self.load_path, TRAINING_STATE, mmap=True)  # a damaged file stops here
        missing = [name for name in _OPTIONAL_RUN_STATE if name in self.load_dict and name not in saved]
        del saved
        for name in missing:
            del self.load_dict[name]
        if missing:
            logger.warning(
                f"{self.load_path} holds no {' or '.join(missing)}: training resumes, but does not repeat the "
                "interrupted run exactly."
            )
        super().__call__(engine)
        _rate_for_this_run(self.load_dict.get("lr_scheduler"))


def _rate_for_this_run(scheduler: Any) -> None:
    """Set the optimizer's learning rates from a restored ``LambdaLR`` as the run is configured now.

    A ``LambdaLR``'s rate is ``base_lr * lr_lambda(iteration)``; the restored optimizer holds the rate that the
    interrupted run computed. With unchanged options both agree (the same expression gives the same float). When the
    run was resumed with more ``--epochs``, the bundles' decay ``(1 - iteration / total) ** 0.9`` has a new total, and
    the next iteration must use it rather than the finished run's final rate of 0.
    """
    if not isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        return
    groups, bases = scheduler.optimizer.param_groups, scheduler.base_lrs
    for group, base, factor in zip(groups, bases, scheduler.lr_lambdas, strict=True):
        group["lr"] = base * factor(scheduler.last_epoch)


_OPTIONAL_RUN_STATE = ("random_states", "scaler")


def _run_state(trainer: Engine, present: Mapping[str, Any]) -> dict[str, Any]:
    """What a checkpoint of ``trainer`` holds besides the user's objects: the trainer, the random generators and
    the AMP gradient scaler (when the trainer has one), except names already in ``present``."""
    state: dict[str, Any] = {"trainer": trainer, "random_states": RandomStates()}
    scaler = getattr(trainer, "scaler", None)  # MONAI's SupervisedTrainer keeps its GradScaler here when amp=True
    if scaler is not None and hasattr(scaler, "state_dict"):
        state["scaler"] = scaler
    return {name: obj for name, obj in state.items() if name not in present}


def _state_of(obj: Any) -> Any:
    if isinstance(obj, torch.nn.Module):
        return _unwrap(obj).state_dict()
    return obj.state_dict()
