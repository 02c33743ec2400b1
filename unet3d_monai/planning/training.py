"""The plan of a training bundle: every option left ``"auto"`` planned from the training volumes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike
from typing import Any

import torch
from torch import nn

from unet3d_monai.planning.fingerprint import compute_fingerprint
from unet3d_monai.planning.plan import AUTO, TrainingPlan, make_plan

__all__ = ["plan_training"]

logger = logging.getLogger(__name__)


def plan_training(
    files: str | PathLike | Sequence[str | PathLike],
    network: nn.Module,
    device: torch.device | str,
    raw_key: str = "raw",
    label_key: str | None = "label",
    patch_size: Sequence[int] | str = AUTO,
    batch_size: int | str = AUTO,
    normalization: str = AUTO,
    voxel_size: Sequence[float] | str = AUTO,
    pool_kernel_size: Any = AUTO,
    memory_budget: float | str | None = None,
    step_seconds: float | str | None = AUTO,
) -> TrainingPlan:
    """Fingerprint the training volumes ``files`` and plan the options left ``"auto"``; logs the table.

    The training bundles call it with their options, e.g.
    ``"plan": "$unet3d_monai.planning.plan_training(@dataset_dir + '/train', @network_def, @device, ...)"``, and
    take ``@plan.patch_size``, ``@plan.batch_size``, ``@plan.normalization`` and ``@plan.network(@network_def)``.
    A voxel size given while the files state one is the voxel size of the files that state none.
    """
    given_size = None if isinstance(voxel_size, str) and voxel_size.lower() == AUTO else voxel_size
    fingerprint = compute_fingerprint(files, raw_key, label_key, voxel_size=given_size)
    plan = make_plan(
        fingerprint,
        network,
        device=device,
        memory_budget_bytes=memory_budget,
        patch_size=patch_size,
        batch_size=batch_size,
        normalization=normalization,
        voxel_size=AUTO,
        pool_kernel_size=pool_kernel_size,
        step_seconds=step_seconds,
    )
    logger.info("Training plan (%d volumes):\n%s", len(fingerprint.volumes), plan.table())
    return plan
