"""Helpers shared by the losses: target checks, ``ignore_index`` masks, class weights and reductions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from monai.utils import LossReduction

__all__ = [
    "NORMALIZATIONS",
    "as_weight_buffer",
    "check_binary_target",
    "check_class_weights",
    "class_index_target",
    "cross_entropy",
    "drop_last_target_channel",
    "ignore_mask",
    "normalize",
    "prepare_binary_inputs",
    "prepare_probabilities",
    "reduce_masked",
    "upcast_half",
    "validate_normalization",
    "validate_reduction",
    "zero_ignored",
]

NORMALIZATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "softmax": lambda x: torch.softmax(x, dim=1),
    "none": lambda x: x,
}


def upcast_half(input: torch.Tensor) -> torch.Tensor:
    """Return float16/bfloat16 network outputs as float32, so sums over whole volumes neither overflow nor round."""
    if input.dtype in (torch.float16, torch.bfloat16):
        return input.float()
    return input


def validate_reduction(
    name: str, reduction: LossReduction | str, allowed: Sequence[str] = ("mean", "sum", "none")
) -> str:
    """Return ``reduction`` as a string, or raise a ``ValueError`` naming the loss and the accepted values."""
    value = reduction.value if isinstance(reduction, LossReduction) else reduction
    if value not in allowed:
        raise ValueError(f"{name} reduction must be one of {', '.join(map(repr, allowed))}; got {reduction!r}.")
    return str(value)


def validate_normalization(name: str, normalization: str) -> str:
    """Return ``normalization`` or raise a ``ValueError`` naming the loss and the accepted values."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"{name} normalization must be one of {', '.join(map(repr, NORMALIZATIONS))}; got {normalization!r}."
        )
    return normalization


def normalize(name: str, normalization: str, logits: torch.Tensor) -> torch.Tensor:
    """Apply the sigmoid, softmax (over the channel axis) or identity named by ``normalization``."""
    if normalization == "softmax" and logits.shape[1] < 2:
        raise ValueError(
            f"{name} with normalization='softmax' needs at least two output channels, but the logits have shape "
            f"{tuple(logits.shape)}; use normalization='sigmoid' for a single foreground channel."
        )
    return NORMALIZATIONS[normalization](logits)


def as_weight_buffer(
    name: str, option: str, value: Sequence[float] | float | torch.Tensor | None
) -> torch.Tensor | None:
    """Convert a list/number/tensor of non-negative weights (as written in a bundle) into a float tensor."""
    if value is None:
        return None
    try:
        weight = torch.as_tensor(value, dtype=torch.float32).detach().clone()
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name} {option} must be a number or a list of numbers; got {value!r}.") from error
    if weight.ndim > 1:
        raise ValueError(
            f"{name} {option} must be a number or a flat list with one value per channel; "
            f"got shape {tuple(weight.shape)}."
        )
    if not torch.isfinite(weight).all() or (weight < 0).any():
        raise ValueError(f"{name} {option} must hold finite, non-negative values; got {weight.tolist()}.")
    return weight


def check_class_weights(name: str, option: str, weight: torch.Tensor | None, n_channels: int) -> torch.Tensor | None:
    """Raise a ``ValueError`` when a per-channel weight vector does not have one value per output channel."""
    if weight is not None and weight.ndim == 1 and weight.numel() != n_channels:
        raise ValueError(
            f"{name} {option} has {weight.numel()} values but the logits have {n_channels} channels; "
            "give one value per output channel."
        )
    return weight


def drop_last_target_channel(name: str, target: torch.Tensor) -> torch.Tensor:
    """Remove the last target channel (the instance labels that boundary and blob transforms append)."""
    if target.ndim < 3 or target.shape[1] < 2:
        raise ValueError(
            f"{name} with skip_last_target=True needs a target of shape (B, C + 1, *spatial) with at least two "
            f"channels; got a target of shape {tuple(target.shape)}."
        )
    return target[:, :-1]


def check_binary_target(name: str, logits: torch.Tensor, target: torch.Tensor, skip_last_target: bool) -> torch.Tensor:
    """Check that ``target`` has one channel per output channel and return it in the logits' dtype."""
    if logits.ndim < 3:
        raise ValueError(
            f"{name} expects logits of shape (B, C, *spatial) with at least one spatial axis; "
            f"got shape {tuple(logits.shape)}."
        )
    if target.shape != logits.shape:
        hint = ""
        if target.ndim == logits.ndim and target.shape[1] == logits.shape[1] + 1 and not skip_last_target:
            hint = " (set skip_last_target=True if the last target channel holds instance labels)"
        elif target.ndim == logits.ndim - 1:
            hint = " (the target has no channel axis: add one, or use CrossEntropyLoss for class-index targets)"
        raise ValueError(
            f"{name} expects a target with one channel per output channel, i.e. of the logits' shape "
            f"{tuple(logits.shape)}, but got a target of shape {tuple(target.shape)}{hint}."
        )
    return target.to(dtype=logits.dtype)


def ignore_mask(target: torch.Tensor, ignore_index: float | None) -> torch.Tensor | None:
    """Boolean mask of the target elements to keep (``target != ignore_index``), or ``None`` when nothing is ignored."""
    if ignore_index is None:
        return None
    return target != ignore_index


def prepare_binary_inputs(
    name: str, input: torch.Tensor, target: torch.Tensor, skip_last_target: bool, ignore_index: float | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The common start of every loss with one target channel per output channel.

    Upcasts half-precision ``input``, drops the appended last target channel when ``skip_last_target``, checks
    the shapes, and returns ``(input, target_values, mask)``: the target in the input's dtype and the mask of
    kept elements (``None`` when nothing is ignored).
    """
    input = upcast_half(input)
    if skip_last_target:
        target = drop_last_target_channel(name, target)
    target_values = check_binary_target(name, input, target, skip_last_target)
    return input, target_values, ignore_mask(target, ignore_index)


def prepare_probabilities(
    name: str,
    normalization: str,
    input: torch.Tensor,
    target: torch.Tensor,
    skip_last_target: bool,
    ignore_index: float | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """:func:`prepare_binary_inputs` followed by the ``normalization`` of the logits: ``(probabilities,
    target_values, mask)``, the start of the overlap (Dice) losses."""
    input, target_values, mask = prepare_binary_inputs(name, input, target, skip_last_target, ignore_index)
    return normalize(name, normalization, input), target_values, mask


def zero_ignored(mask: torch.Tensor | None, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``tensors`` with their ignored elements (where ``mask`` is False) set to 0; unchanged when ``mask`` is None.

    Example:
        >>> zero_ignored(torch.tensor([True, False]), torch.tensor([2.0, 3.0]))
        (tensor([2., 0.]),)
    """
    if mask is None:
        return tensors
    return tuple(torch.where(mask, t, torch.zeros_like(t)) for t in tensors)


def reduce_masked(loss: torch.Tensor, mask: torch.Tensor | None, reduction: str) -> torch.Tensor:
    """Reduce an element-wise loss over the kept elements only.

    ``"mean"`` divides the sum over kept elements by their number (0 when every element is ignored),
    ``"sum"`` sums the kept elements, ``"none"`` returns the element-wise loss with ignored elements set to 0.
    """
    (loss,) = zero_ignored(mask, loss)
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    if mask is None:
        return loss.mean()
    return loss.sum() / mask.sum().clamp(min=1).to(loss.dtype)


def class_index_target(
    name: str, logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None
) -> torch.Tensor:
    """Turn a class-index target of shape (B, *spatial) or (B, 1, *spatial) into a long tensor (B, *spatial).

    Float targets (as MONAI's loading transforms produce) are accepted when they hold integer values.
    Every value must be a class index in ``[0, C)`` or ``ignore_index``.
    """
    expected = (
        f"{name} expects integer class indices of shape (B, *spatial) or (B, 1, *spatial) for logits of shape "
        f"{tuple(logits.shape)}"
    )
    if logits.ndim < 3:
        raise ValueError(f"{name} expects logits of shape (B, C, *spatial); got shape {tuple(logits.shape)}.")
    labels = target
    if labels.ndim == logits.ndim and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != logits.ndim - 1 or labels.shape[0] != logits.shape[0] or labels.shape[1:] != logits.shape[2:]:
        hint = ""
        if target.ndim == logits.ndim and target.shape[1] > 1:
            hint = " (a one-hot or multi-channel target belongs with DiceLoss or BCEWithLogitsLoss)"
        raise ValueError(f"{expected}, but got a target of shape {tuple(target.shape)}{hint}.")
    if labels.is_floating_point():
        if not torch.equal(labels, torch.round(labels)):
            raise ValueError(f"{expected}, but the floating-point target holds non-integer values.")
    elif labels.is_complex():
        raise ValueError(f"{expected}, but the target is complex.")
    labels = labels.long()
    n_classes = logits.shape[1]
    valid = (labels >= 0) & (labels < n_classes)
    if ignore_index is not None:
        valid = valid | (labels == ignore_index)
    if not bool(valid.all()):
        allowed = f"[0, {n_classes - 1}]" + ("" if ignore_index is None else f" or ignore_index {ignore_index}")
        raise ValueError(
            f"{name} expects class indices in {allowed} for logits with {n_classes} channels, but the target holds "
            f"values from {int(labels.min())} to {int(labels.max())}."
        )
    return labels


def cross_entropy(
    input: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None, ignore_index: int, reduction: str
) -> torch.Tensor:
    """:func:`torch.nn.functional.cross_entropy` whose ``"mean"`` is 0, not NaN, when every voxel is ignored.

    ``"mean"`` is the weighted sum over the kept voxels divided by the sum of their class weights (their
    number without class weights), as in PyTorch.
    """
    per_voxel = F.cross_entropy(input, labels, weight=weight, ignore_index=ignore_index, reduction="none")
    if reduction == "none":
        return per_voxel
    if reduction == "sum":
        return per_voxel.sum()
    kept = labels != ignore_index
    if weight is None:
        total = kept.sum().to(per_voxel.dtype)
    else:
        voxel_weight = weight[labels.clamp(0, input.shape[1] - 1)]
        total = torch.where(kept, voxel_weight, torch.zeros_like(voxel_weight)).sum()
    return per_voxel.sum() / total.clamp(min=torch.finfo(per_voxel.dtype).tiny)
