"""The plan of a training bundle: every option left ``"auto"`` planned from the training volumes."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch import nn

from unet3d_monai.options import as_bool
from unet3d_monai.planning.fingerprint import compute_fingerprint
from unet3d_monai.planning.plan import AUTO, TrainingPlan, make_plan

__all__ = ["PLAN_FILENAME", "plan_training"]

#: the plan of a training run, written beside its checkpoints with its first training state
PLAN_FILENAME = "plan.json"

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
    ckpt_dir: str | PathLike | None = None,
    resume: bool | str = False,
) -> TrainingPlan:
    """Fingerprint the training volumes ``files`` and plan the options left ``"auto"``; logs the table.

    The training bundles call it with their options, e.g.
    ``"plan": "$unet3d_monai.planning.plan_training(@dataset_dir + '/train', @network_def, @device, ...)"``, and
    take ``@plan.patch_size``, ``@plan.batch_size``, ``@plan.normalization`` and ``@plan.network(@network_def)``.
    A voxel size given while the files state one is the voxel size of the files that state none.

    The checkpointer writes the plan to ``<ckpt_dir>/plan.json`` with the run's first training state (so that a
    run that fails before its first checkpoint leaves nothing behind). A resumed run (``resume``) takes the plan
    from there instead of planning again: a plan measured anew (memory, step time) could choose another patch or
    pooling, and so another network than the checkpoint's.

    Raises:
        ValueError: resuming with an option set to another value than the plan the run started with.
    """
    saved = Path(ckpt_dir) / PLAN_FILENAME if ckpt_dir is not None else None
    if saved is not None and as_bool(resume, "resume") and saved.is_file():
        plan = TrainingPlan.from_dict(json.loads(saved.read_text()))
        given = {
            "patch_size": patch_size,
            "batch_size": batch_size,
            "normalization": normalization,
            "voxel_size": voxel_size,
            "pool_kernel_size": pool_kernel_size,
        }
        for name, value in given.items():
            if isinstance(value, str) and value.lower() == AUTO or name not in plan.entries:
                continue
            if _plain(value) != _plain(plan.value(name)):
                raise ValueError(
                    f"--{name} {_plain(value)} differs from the {_plain(plan.value(name))} this training started "
                    f"with ({saved}): resume with the same options, or start a new training in another --ckpt_dir."
                )
        logger.info("Resuming with the plan in %s:\n%s", saved, plan.table())
        return plan
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


def _plain(value: Any) -> Any:
    """``value`` as JSON has it (tuples become lists), to compare a given option with a saved one."""
    return json.loads(json.dumps(value))
