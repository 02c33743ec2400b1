"""Prepare the dataset folder a training bundle reads."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from unet3d_monai.data.files import check_dataset_dir
from unet3d_monai.data.sample import ensure_sample_dataset

__all__ = ["prepare_dataset_dir"]

logger = logging.getLogger(__name__)


def prepare_dataset_dir(
    dataset_dir: str | os.PathLike,
    default_dataset_dir: str | os.PathLike,
    sample_task: str,
    raw_key: str = "raw",
    label_key: str | None = "label",
    splits: tuple[str, ...] = ("train", "val"),
) -> Path:
    """Make sure ``dataset_dir`` holds a usable dataset and return it.

    When the user kept the bundle's default folder and it does not exist yet, the synthetic ``sample_task``
    dataset is generated there (the embedded default that lets a fresh clone train at once). A folder the user
    named is never created or changed: a missing or incomplete one is reported in one sentence.
    """
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.exists() and dataset_dir.resolve() == Path(default_dataset_dir).resolve():
        logger.info(f"no dataset in {dataset_dir}: generating the synthetic {sample_task!r} sample dataset there")
        ensure_sample_dataset(sample_task, dataset_dir)
    check_dataset_dir(dataset_dir, splits=splits, raw_key=raw_key, label_key=label_key)
    return dataset_dir
