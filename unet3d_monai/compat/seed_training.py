"""pytorch-3dunet's ``loss``, ``eval_metric``, ``optimizer`` and ``lr_scheduler`` sections as bundle components.

Each function checks the section's keys (a misspelt key is an error naming the closest valid keys, where
pytorch-3dunet ignored it), and returns the MONAI config dict of the component with the notes on keys that have no
exact equivalent.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from unet3d_monai import losses, metrics
from unet3d_monai.compat.notes import ConfigKeyError, ConversionNote, check_keys, check_name

__all__ = [
    "LOSSES",
    "LOSS_KEYS",
    "METRICS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "SEED_METRIC_KEYS",
    "Component",
    "convert_eval_metric",
    "convert_loss",
    "convert_lr_scheduler",
    "convert_optimizer",
]

#: pytorch-3dunet loss names -> this package's losses
LOSSES: dict[str, type] = {
    name: cls for name, cls in vars(losses).items() if inspect.isclass(cls) and name in losses.__all__
}
#: pytorch-3dunet metric names -> this package's metric handlers
METRICS: dict[str, type] = {
    "MeanIoU": metrics.MeanIoUHandler,
    "DiceCoefficient": metrics.DiceCoefficientHandler,
    "AdaptedRandError": metrics.AdaptedRandErrorHandler,
    "BoundaryAdaptedRandError": metrics.BoundaryAdaptedRandErrorHandler,
    "AveragePrecision": metrics.AveragePrecisionHandler,
    "BlobsAveragePrecision": metrics.BlobsAveragePrecisionHandler,
    "BoundaryAveragePrecision": metrics.BoundaryAveragePrecisionHandler,
    "PSNR": metrics.PSNRHandler,
    "MSE": metrics.MSEHandler,
}
#: every optimizer of ``torch.optim``
OPTIMIZERS: dict[str, type] = {
    name: cls
    for name, cls in vars(torch.optim).items()
    if inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer
}
#: every learning-rate scheduler of ``torch.optim.lr_scheduler``
SCHEDULERS: dict[str, type] = {
    name: cls
    for name, cls in vars(torch.optim.lr_scheduler).items()
    if inspect.isclass(cls)
    and not name.startswith("_")
    and name != "LRScheduler"
    and (issubclass(cls, torch.optim.lr_scheduler.LRScheduler) or cls is torch.optim.lr_scheduler.ReduceLROnPlateau)
}

#: keys pytorch-3dunet read for every loss, whatever the loss
LOSS_KEYS = ("name", "ignore_index", "skip_last_target", "weight", "pos_weight", "squeeze_channel")
# losses whose ignore_index pytorch-3dunet set to -100 when the config left it empty
_CROSS_ENTROPY = ("CrossEntropyLoss", "WeightedCrossEntropyLoss", "PixelWiseCrossEntropyLoss")
#: keys pytorch-3dunet's metrics accepted that the handlers here have not, and what happens to them
SEED_METRIC_KEYS: dict[str, dict[str, str]] = {
    "MeanIoU": {"skip_background": ""},
    "AdaptedRandError": {
        "save_plots": "plots of the metric are not saved.",
        "plots_dir": "plots of the metric are not saved.",
    },
    "BoundaryAdaptedRandError": {
        "input_channel": "",
        "invert_pmaps": "the boundary map is always inverted (cells are the components below the threshold).",
        "save_plots": "plots of the metric are not saved.",
        "plots_dir": "plots of the metric are not saved.",
        "threshold": "pytorch-3dunet's BoundaryAdaptedRandError ignored 'threshold' and scored its 'thresholds' "
        "(default 0.3, 0.4, 0.5, 0.6); so does this bundle: set 'thresholds' to change them.",
    },
    "AveragePrecision": {"metric": ""},
    "BlobsAveragePrecision": {"metric": ""},
    "BoundaryAveragePrecision": {"metric": ""},
}
_HANDLER_ONLY = ("output_transform", "save_details")


@dataclass
class Component:
    """A converted section: its MONAI config dict, the expression the bundle uses it through (when it must be
    wrapped), and the notes on its keys."""

    config: dict[str, Any]
    expression: str | None = None
    notes: list[ConversionNote] = field(default_factory=list)


def _parameters(cls: type, skip: tuple[str, ...] = ()) -> dict[str, inspect.Parameter]:
    return {
        name: p
        for name, p in inspect.signature(cls).parameters.items()
        if name not in skip and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


def _check_required(cls: type, given: Mapping, skip: tuple[str, ...], what: str, source: str) -> None:
    for name, p in _parameters(cls, skip).items():
        if p.default is inspect.Parameter.empty and name not in given:
            raise ConfigKeyError(f"{source}: {what} {cls.__name__} needs '{name}'.")


def convert_loss(section: Mapping, source: str, weight_map: bool = False) -> Component:
    """Convert the ``loss`` section.

    Args:
        section: the YAML mapping, e.g. ``{"name": "BCEDiceLoss", "skip_last_target": True}``.
        source: the file name, for errors.
        weight_map: the training target carries a per-voxel weight map as its last channel
            (``loaders.weight_internal_path``); only ``PixelWiseCrossEntropyLoss`` takes one.

    Returns:
        the loss; ``expression`` is set when the bundle must call it through a ``lambda`` that drops the target's
        last channel (``skip_last_target`` for a loss without that option).
    """
    name = check_name(section.get("name"), LOSSES, "loss.name", source)
    cls = LOSSES[name]
    params = _parameters(cls, ("reduction",))
    check_keys(section, set(LOSS_KEYS) | set(params), "loss", source)
    args: dict[str, Any] = {"_target_": f"unet3d_monai.losses.{name}"}
    notes: list[ConversionNote] = []
    skip_outside = False
    for key, value in section.items():
        if key == "name" or value is None and key != "ignore_index":
            continue
        if key == "squeeze_channel":
            notes.append(
                ConversionNote(
                    "loss.squeeze_channel", "no effect: the losses accept the target with or without its channel axis."
                )
            )
        elif key == "weight":
            target = "weight" if "weight" in params else "class_weights" if "class_weights" in params else None
            if target is None:
                notes.append(
                    ConversionNote("loss.weight", f"{name} takes no class weights; ignored, as pytorch-3dunet did.")
                )
            else:
                args[target] = value
        elif key == "pos_weight":
            if "pos_weight" not in params:
                notes.append(ConversionNote("loss.pos_weight", f"{name} takes no pos_weight; ignored."))
                continue
            args["pos_weight"] = value
            if name == "BCEDiceLoss":
                notes.append(
                    ConversionNote(
                        "loss.pos_weight", "weights the BCE term (pytorch-3dunet ignored pos_weight for BCEDiceLoss)."
                    )
                )
        elif key == "ignore_index":
            if value is None:
                if name in _CROSS_ENTROPY and name != "PixelWiseCrossEntropyLoss":
                    args["ignore_index"] = -100
                continue
            args["ignore_index"] = value
        elif key == "skip_last_target":
            if "skip_last_target" in params:
                args["skip_last_target"] = bool(value)
            else:
                skip_outside = bool(value)
        else:
            args[key] = value
    if name == "WeightedCrossEntropyLoss":
        args.setdefault("ignore_index", -100)  # pytorch-3dunet's factory default, not the class default
    _check_required(cls, args, ("reduction",), "loss", source)
    if weight_map and name != "PixelWiseCrossEntropyLoss":
        raise ConfigKeyError(
            f"{source}: loaders.weight_internal_path gives per-voxel weights, which only the loss "
            f"PixelWiseCrossEntropyLoss takes; loss.name is {name}."
        )
    if not skip_outside:
        return Component(args, None, notes)
    if weight_map:
        expression = "$lambda input, target: @loss_def(input, torch.cat([target[:, :-2], target[:, -1:]], dim=1))"
    else:
        expression = "$lambda input, target: @loss_def(input, target[:, :-1])"
    return Component(args, expression, notes)


def convert_eval_metric(section: Mapping, source: str, out_channels: int) -> Component:
    """Convert the ``eval_metric`` section into a metric handler for the bundle's validation.

    Returns:
        the handler config (with ``output_transform`` reading ``pred`` and ``label`` from the evaluator).
    """
    name = check_name(section.get("name"), METRICS, "eval_metric.name", source)
    cls = METRICS[name]
    params = _parameters(cls, _HANDLER_ONLY)
    seed_only = SEED_METRIC_KEYS.get(name, {})
    check_keys(section, {"name", "ignore_index"} | set(params) | set(seed_only), "eval_metric", source)
    args: dict[str, Any] = {"_target_": f"unet3d_monai.metrics.{cls.__name__}"}
    notes: list[ConversionNote] = []
    for key, value in section.items():
        where = f"eval_metric.{key}"
        if key == "name":
            continue
        if key in params:
            args[key] = value
        elif key == "ignore_index":
            notes.append(ConversionNote(where, f"{name} has no ignore_index; ignored, as pytorch-3dunet did."))
        elif key == "skip_background":
            continue  # handled below
        elif key == "input_channel":
            if value not in (None, 0):
                raise ConfigKeyError(
                    f"{source}: {where} {value!r} has no equivalent; only channel 0 (or null) is "
                    "supported, with use_first_input."
                )
            args["use_first_input"] = value == 0 or bool(section.get("use_first_input", value == 0))
        elif key == "metric":
            if value != "ap":
                notes.append(ConversionNote(where, f"'{value}' has no equivalent: the average precision is scored."))
        else:
            notes.append(ConversionNote(where, seed_only[key]))
    if name == "MeanIoU" and section.get("skip_background", True) and out_channels > 1 and "skip_channels" not in args:
        args["skip_channels"] = [0]  # pytorch-3dunet left the background class out of the mean by default
    if name == "BoundaryAdaptedRandError":
        args.setdefault("grow_segments", True)
        notes.append(
            ConversionNote(
                "eval_metric.name",
                "BoundaryAdaptedRandError gives boundary voxels to the "
                "nearest cell before scoring (grow_segments true); --val_metric#grow_segments "
                "false gives pytorch-3dunet's value.",
            )
        )
    args["output_transform"] = "$monai.handlers.from_engine(['pred', 'label'])"
    return Component(args, None, notes)


def convert_optimizer(section: Mapping, source: str) -> Component:
    """Convert the ``optimizer`` section: any ``torch.optim`` optimizer by name (default ``Adam``) with its options.

    ``learning_rate`` becomes the bundle option ``@learning_rate``; options the optimizer does not take but
    pytorch-3dunet always read (``weight_decay``) are reported.
    """
    name = check_name(section.get("name", "Adam"), OPTIMIZERS, "optimizer.name", source)
    cls = OPTIMIZERS[name]
    params = _parameters(cls, ("params", "lr"))
    check_keys(section, {"name", "learning_rate", "weight_decay"} | set(params), "optimizer", source)
    args: dict[str, Any] = {"_target_": f"torch.optim.{name}", "params": "$@network.parameters()"}
    args["lr"] = "@learning_rate"
    notes = []
    for key, value in section.items():
        if key in ("name", "learning_rate"):
            continue
        if key not in params:
            notes.append(ConversionNote(f"optimizer.{key}", f"{name} takes no {key}; ignored, as pytorch-3dunet did."))
            continue
        args[key] = value
    return Component(args, None, notes)


def convert_lr_scheduler(section: Mapping, source: str) -> Component:
    """Convert the ``lr_scheduler`` section: any ``torch.optim.lr_scheduler`` class by name with its options.

    The scheduler steps after every validation, as in pytorch-3dunet (``ReduceLROnPlateau`` with the validation
    metric); ``expression`` is the step transform of MONAI's ``LrScheduleHandler``. A ``ReduceLROnPlateau`` without
    ``mode`` follows the metric's direction.
    """
    name = check_name(section.get("name"), SCHEDULERS, "lr_scheduler.name", source)
    cls = SCHEDULERS[name]
    params = _parameters(cls, ("optimizer",))
    check_keys(section, {"name"} | set(params), "lr_scheduler", source)
    args: dict[str, Any] = {"_target_": f"torch.optim.lr_scheduler.{name}", "optimizer": "@optimizer"}
    args.update({k: v for k, v in section.items() if k != "name"})
    _check_required(cls, args, ("optimizer",), "lr_scheduler", source)
    if name == "ReduceLROnPlateau":
        args.setdefault("mode", "$'max' if @higher_is_better else 'min'")
        step = "$lambda engine: engine.state.metrics[engine.state.key_metric_name]"
    else:
        step = "$lambda engine: ()"
    return Component(args, step, [])
