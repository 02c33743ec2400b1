"""Batches of the prediction chain for MONAI's ``DataLoader`` and ``SupervisedEvaluator``, with volumes on disk.

A sample whose volume stays on disk (:class:`~unet3d_monai.inference.on_disk.VolumeOnDisk`) cannot be stacked into a
tensor: :func:`collate_volumes` keeps such values as a list (one per sample) and collates the rest as MONAI does;
:func:`prepare_volume_batch` moves tensors to the device and hands lists of volumes on disk to the inferer as they
are. MONAI's ``decollate_batch`` then takes the lists apart again for ``postprocessing``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.data import list_data_collate
from monai.utils import CommonKeys

from unet3d_monai.inference.on_disk import is_on_disk

__all__ = ["collate_volumes", "prepare_volume_batch"]


def collate_volumes(samples: Sequence[Mapping[Hashable, Any]]) -> dict[Hashable, Any]:
    """MONAI's ``list_data_collate`` of ``samples``, except that values on disk are gathered into a list.

    Example::

        DataLoader(dataset, batch_size=1, collate_fn=collate_volumes)
    """
    on_disk = {key for sample in samples for key, value in sample.items() if is_on_disk(value)}
    rest = [{key: value for key, value in sample.items() if key not in on_disk} for sample in samples]
    batch = dict(list_data_collate(rest))
    for key in on_disk:
        batch[key] = [sample[key] for sample in samples]
    return batch


def prepare_volume_batch(
    batchdata: Mapping[Hashable, Any],
    device: torch.device | str | None = None,
    non_blocking: bool = False,
    **kwargs: Any,
) -> tuple[Any, None]:
    """The ``prepare_batch`` of the prediction evaluator: ``(image, None)``, the image on ``device`` when it is a
    tensor and as it is when it is a list of volumes on disk (see :func:`collate_volumes`)."""
    image = batchdata[CommonKeys.IMAGE]
    if isinstance(image, torch.Tensor):
        image = image.to(device=device, non_blocking=non_blocking, **kwargs)
    return image, None
