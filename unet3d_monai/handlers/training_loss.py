"""The training loss of a trainer's output, as one number, whatever form the engine's output takes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["training_loss"]


def training_loss(output: Any) -> float:
    """The loss in ``engine.state.output`` of a MONAI trainer, as a Python float.

    MONAI's ``SupervisedTrainer`` stores the loss under ``"loss"`` in a dict (``decollate=False``, as the bundles
    run it) or in every item of a list of dicts (``decollate=True``); a plain tensor or number is the loss itself.
    Use it as the ``output_transform`` of ``StatsHandler``/``TensorBoardStatsHandler``: unlike
    ``from_engine(["loss"], first=True)``, which returns a one-element tuple for a dict output (and the handlers
    then drop the loss with a warning), it returns the scalar for every format, and fails loudly on an output
    without a loss instead of logging nothing.

    Raises:
        ValueError: the output holds no loss, or a loss of more than one value.

    Example:
        >>> training_loss({"loss": torch.tensor(0.25), "pred": torch.zeros(1, 1, 4, 4, 4)})
        0.25
        >>> training_loss([{"loss": torch.tensor(0.5)}, {"loss": torch.tensor(0.5)}])
        0.5
    """
    loss = output
    if isinstance(loss, list | tuple):
        if not loss:
            raise ValueError("the trainer's output is an empty list: it holds no loss.")
        loss = loss[0]
    if isinstance(loss, Mapping):
        if "loss" not in loss:
            raise ValueError(f"the trainer's output has no 'loss' entry (it has {sorted(map(str, loss))}).")
        loss = loss["loss"]
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1:
            raise ValueError(f"the training loss must be one number, got a tensor of shape {tuple(loss.shape)}.")
        return float(loss.detach().float().item())
    if isinstance(loss, int | float) and not isinstance(loss, bool):
        return float(loss)
    raise ValueError(f"the trainer's output holds no loss: got {type(output).__name__}.")
