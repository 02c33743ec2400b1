"""What a training wrote to TensorBoard in its ``output_dir``: loss and validation curves, validation slices."""

from __future__ import annotations

import io
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

__all__ = ["TrainingEvents", "read_training_events"]


class TrainingEvents:
    """The TensorBoard events of a training's ``output_dir``, read again by :meth:`reload` as the run writes them
    (each reload reads only what was added).

    - :attr:`scalars`: every scalar tag with its ``(step, value)`` points: ``train_loss`` per iteration,
      ``train_loss_epoch`` and the validation metrics per epoch.
    - :meth:`latest_images`: the validation slices of the last evaluation (``val/image/0``, ``val/label/0``,
      ``val/pred/0``, ... written by :class:`~unet3d_monai.handlers.TensorBoardSliceHandler`), ``(Y, X)`` float32
      in ``[0, 1]``.

    Example::

        events = TrainingEvents("bundles/boundary/output").reload()
        events.losses()["train_loss"][-1]     # (step, value)
        epoch, slices = events.latest_images()

    Raises:
        FileNotFoundError: ``log_dir`` is not a folder.
    """

    def __init__(self, log_dir: str | PathLike) -> None:
        self.log_dir = Path(log_dir)
        if not self.log_dir.is_dir():
            raise FileNotFoundError(f"Training output folder '{self.log_dir}' does not exist.")
        self._accumulator = EventAccumulator(str(self.log_dir), size_guidance={"scalars": 0, "images": 1})

    def reload(self) -> TrainingEvents:
        """Read what was written since the last reload; returns this object."""
        self._accumulator.Reload()
        return self

    @property
    def scalars(self) -> dict[str, list[tuple[int, float]]]:
        tags = self._accumulator.Tags().get("scalars", [])
        return {tag: [(int(e.step), float(e.value)) for e in self._accumulator.Scalars(tag)] for tag in sorted(tags)}

    def losses(self) -> dict[str, list[tuple[int, float]]]:
        """The scalar tags naming a loss (``train_loss``, ``train_loss_epoch``, a validation loss)."""
        return {tag: points for tag, points in self.scalars.items() if "loss" in tag.lower()}

    def metrics(self) -> dict[str, list[tuple[int, float]]]:
        """The other scalars: validation metrics (and the learning rate, when recorded)."""
        return {tag: points for tag, points in self.scalars.items() if "loss" not in tag.lower()}

    def latest_images(self) -> tuple[int | None, dict[str, np.ndarray]]:
        """The step (epoch) of the newest image and every image tag's newest image, ``(Y, X)`` float32 in [0, 1];
        ``(None, {})`` before the first evaluation."""
        images: dict[str, np.ndarray] = {}
        step = None
        for tag in sorted(self._accumulator.Tags().get("images", [])):
            events = self._accumulator.Images(tag)
            if not events:
                continue
            event = events[-1]
            images[tag] = _decode(event.encoded_image_string)
            step = event.step if step is None else max(step, event.step)
        return step, images


def _decode(png: bytes) -> np.ndarray:
    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32) / 255.0
    return image


def read_training_events(log_dir: str | PathLike) -> TrainingEvents:
    """The events of ``log_dir``, read once (see :class:`TrainingEvents`)."""
    return TrainingEvents(log_dir).reload()
