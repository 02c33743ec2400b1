"""Prepare the dataset folder a training bundle reads."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from unet3d_monai.data.sample import ensure_sample_dataset
from unet3d_monai.data.stats import NonFiniteWarning, compute_volume_stats, count_nonfinite
from unet3d_monai.io.files import check_dataset_dir

__all__ = ["check_finite_volumes", "prepare_dataset_dir"]

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
    named is never created or changed: a missing or incomplete one, or one whose volumes hold NaN or Inf values,
    is reported in one sentence.
    """
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.exists() and dataset_dir.resolve() == Path(default_dataset_dir).resolve():
        logger.info(f"no dataset in {dataset_dir}: generating the synthetic {sample_task!r} sample dataset there")
        ensure_sample_dataset(sample_task, dataset_dir)
    files = check_dataset_dir(dataset_dir, splits=splits, raw_key=raw_key, label_key=label_key)
    check_finite_volumes([f for split in splits for f in files[split]], raw_key, label_key)
    return dataset_dir


def check_finite_volumes(files: Iterable[str | os.PathLike], raw_key: str, label_key: str | None = None) -> None:
    """Fail with one sentence naming the file and the dataset when a training or validation volume holds NaN or Inf.

    The raw data is checked by the per-volume statistics pass that training runs anyway (its result is cached, so
    the patch dataset does not read the volume again); a floating-point label is scanned block by block.

    Raises:
        ValueError: a dataset holds NaN or Inf values.
    """
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NonFiniteWarning)
            counts = {raw_key: compute_volume_stats(path, raw_key).nonfinite}
        if label_key is not None:
            counts[label_key] = count_nonfinite(path, label_key)
        for key, count in counts.items():
            if count:
                raise ValueError(
                    f"HDF5 file '{path}' dataset '{key}' holds {count} NaN/Inf values; training needs finite "
                    "values, so replace them (with 0, for instance) or leave the file out of the dataset folder."
                )
