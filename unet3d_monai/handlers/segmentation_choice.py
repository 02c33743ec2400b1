"""Choose the segmentation settings on the validation volumes when training ends, and record them with the weights."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events
from monai.data import decollate_batch
from monai.engines import SupervisedEvaluator
from monai.utils import CommonKeys as Keys

from unet3d_monai.compat.checkpoint_file import load_checkpoint_file
from unet3d_monai.inference.model_record import read_model_record, update_model_record
from unet3d_monai.planning.fingerprint import DatasetFingerprint
from unet3d_monai.planning.segmentation_choice import (
    TOLERANCE,
    SegmentationChoice,
    candidate_settings,
    choose_segmentation,
    metric_score,
)

__all__ = ["ChooseSegmentation"]

logger = logging.getLogger(__name__)


def _settings_text(settings: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in settings.items() if name != "mode")


class ChooseSegmentation:
    """When training completes, choose the segmentation settings on the validation volumes with the best weights,
    and write them into the model record (``segmentation``), where prediction takes its defaults from.

    The best weights (``best_path``, the checkpointer's ``model.pt``) predict every validation volume once, through
    the validator's own data loader and inferer and the validation's ``postprocessing``; then
    :func:`~unet3d_monai.planning.segmentation_choice.choose_segmentation` tries seed distances, thresholds,
    smallest objects (and, for cells, whether weak borders merge) around the planned settings, each scored by the
    validation metric itself (the ``metric_fn`` of ``val_metric``, which segments its input with its
    ``segmenter``); among the settings within 5 % of the best score's error, the ones nearest the planned settings
    are kept (one validation volume cannot tell them apart). The training log lists every setting tried with its
    score; the record keeps them, with the chosen ones. The network's weights are restored afterwards.

    Args:
        validator: the training's validation evaluator.
        postprocessing: the validation's post-processing (the evaluator's ``postprocessing``), or None.
        val_metric: its key metric handler, whose metric segments the predictions (an instance metric).
        best_path: the best weights (``<ckpt_dir>/model.pt``), with their model record beside them.
        fingerprint: the training plan's fingerprint (``plan.fingerprint``): the objects' radius and voxels.
        voxel_size: the training data's voxel size (``plan.voxel_size``), to state ``min_distance`` in its unit.
        rounds: passes over the settings (see ``choose_segmentation``).

    Example (in a training bundle's ``train#handlers``, after the checkpointer)::

        {"_target_": "unet3d_monai.handlers.ChooseSegmentation", "validator": "@validate#evaluator",
         "postprocessing": "@validate#postprocessing", "val_metric": "@val_metric",
         "best_path": "$@checkpointer.best_path", "fingerprint": "$@plan.fingerprint",
         "voxel_size": "$@plan.voxel_size"}
    """

    def __init__(
        self,
        validator: SupervisedEvaluator,
        postprocessing: Callable[[dict], dict] | None,
        val_metric: Any,
        best_path: str | os.PathLike,
        fingerprint: dict[str, Any] | DatasetFingerprint | None,
        voxel_size: list[float] | None = None,
        rounds: int = 2,
    ) -> None:
        metric = getattr(val_metric, "metric_fn", None)
        if not hasattr(metric, "segmenter") or metric.segmenter is None:
            raise ValueError(
                f"ChooseSegmentation needs a validation metric that segments its input (an instance metric with a "
                f"'segmenter'), got {type(metric).__name__}."
            )
        self.validator = validator
        self.postprocessing = postprocessing
        self.val_metric = val_metric
        self.metric = metric
        self.best_path = Path(best_path)
        if fingerprint is not None and not isinstance(fingerprint, DatasetFingerprint):
            fingerprint = DatasetFingerprint.from_dict(fingerprint)
        self.fingerprint = fingerprint
        self.voxel_size = None if voxel_size is None else [float(v) for v in voxel_size]
        self.rounds = int(rounds)
        self.choice: SegmentationChoice | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def validation_items(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The validator's predictions ``(C, *spatial)`` (after its post-processing) and targets of every validation
        volume, on the CPU, as its metric receives them."""
        validator = self.validator
        network = validator.network
        device = validator.state.device
        predictions, labels = [], []
        was_training = network.training
        network.eval()
        try:
            with torch.no_grad():
                for batch in validator.data_loader:
                    prepared = validator.prepare_batch(batch, device, validator.non_blocking, **validator.to_kwargs)
                    inputs, targets = prepared[0], prepared[1]
                    args, kwargs = (prepared[2], prepared[3]) if len(prepared) == 4 else ((), {})
                    amp = torch.autocast("cuda", **validator.amp_kwargs) if validator.amp else nullcontext()
                    with amp:
                        output = validator.inferer(inputs, network, *args, **kwargs)
                    items = decollate_batch({Keys.IMAGE: inputs, Keys.LABEL: targets, Keys.PRED: output})
                    for item in items:
                        if self.postprocessing is not None:
                            item = self.postprocessing(item)
                        predictions.append(item[Keys.PRED].detach().float().cpu())
                        labels.append(item[Keys.LABEL].detach().cpu())
        finally:
            network.train(was_training)
        return predictions, labels

    def __call__(self, engine: Engine) -> None:
        if not self.best_path.is_file() or read_model_record(self.best_path) is None:
            logger.warning(
                f"No best weights with a record at {self.best_path}: the segmentation settings stay as planned."
            )
            return
        network = self.validator.network
        kept = {name: value.detach().clone() for name, value in network.state_dict().items()}
        best = load_checkpoint_file(self.best_path, "the best network weights")
        network.load_state_dict(best)
        try:
            predictions, labels = self.validation_items()
        finally:
            network.load_state_dict(kept)
        start = self.metric.segmenter
        radius = None if self.fingerprint is None else self.fingerprint.object_radius
        voxels = None if self.fingerprint is None else self.fingerprint.object_voxels
        candidates = candidate_settings(start, radius, voxels)
        higher = bool(getattr(self.val_metric, "higher_is_better", getattr(self.metric, "higher_is_better", True)))
        logger.info(
            f"Choosing the segmentation settings ({start.mode.value}) on {len(predictions)} validation volume(s) "
            f"with the best weights; trying {', '.join(f'{k} {v}' for k, v in candidates.items())}"
        )
        choice = choose_segmentation(
            metric_score(self.metric, predictions, labels), start, candidates, higher, self.rounds
        )
        for trial in choice.trials:
            logger.info(f"  {_settings_text(trial['settings'])}: {trial['score']:.4f}")
        record = choice.to_dict()
        record.update(metric=type(self.metric).__name__, volumes=len(predictions))
        distance = choice.settings.get("min_distance")
        if distance is not None and self.voxel_size:
            record["min_distance_um"] = float(distance) * min(self.voxel_size)
        update_model_record(self.best_path, segmentation=record)
        self.choice = choice
        logger.info(
            f"Segmentation settings chosen on validation ({type(self.metric).__name__}): "
            f"{_settings_text(choice.settings)} scored {choice.score:.4f} (the planned "
            f"{_settings_text(start.settings())}: {choice.start_score:.4f}; the best tried: "
            f"{choice.best_score:.4f}; of the settings within {TOLERANCE:.0%} of its error, the one nearest the "
            "planned settings is kept); prediction uses them "
            f"(recorded in {self.best_path.with_suffix('.json')})."
        )
