"""The training monitor: loss and validation curves of a training's TensorBoard events, and its latest validation
slices as image layers, refreshed while the run writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import napari
from magicgui.widgets import Container, FileEdit, Label, SpinBox
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtCore import QTimer

from unet3d_monai.napari.events import TrainingEvents

__all__ = ["SLICE_COLORMAPS", "TrainingMonitor"]

#: colormaps of the validation slices by the key in their tag (``val/<key>/<channel>``)
SLICE_COLORMAPS = {"image": "gray", "label": "green", "pred": "magenta"}


class TrainingMonitor(Container):
    """Follow a training: pick its ``output_dir`` (where the bundle's TensorBoard events go) to plot the losses
    (left) and the validation metrics (right) against their steps, and to show the middle slices of the last
    validation (input, target and prediction, ``(Y, X)`` in ``[0, 1]``) as image layers named ``validation
    <tag>``. Every ``refresh seconds`` it reads what the run added.

    Example::

        monitor = TrainingMonitor(viewer)
        viewer.window.add_dock_widget(monitor)
        monitor.output_dir.value = "bundles/boundary/output"
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, interval_s: int = 5) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.output_dir = FileEdit(label="output_dir", mode="d", value="")
        self.interval = SpinBox(label="refresh seconds", min=1, max=3600, value=interval_s)
        self.status = Label(value="choose a training's output_dir")
        self.extend([self.output_dir, self.interval, self.status])
        self.figure = Figure(figsize=(6, 2.6), tight_layout=True)
        self.loss_axes, self.metric_axes = self.figure.subplots(1, 2)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(220)
        self.native.layout().addWidget(self.canvas)
        self.events: TrainingEvents | None = None
        self.image_step: int | None = None
        self.timer = QTimer()
        self.timer.timeout.connect(self.refresh)
        self.output_dir.changed.connect(self._folder_changed)
        self.interval.changed.connect(lambda seconds: self.timer.setInterval(int(seconds) * 1000))
        self.native.destroyed.connect(self.timer.stop)

    def _folder_changed(self, _value: Any = None) -> None:
        folder = Path(self.output_dir.value)
        self.events = None
        self.image_step = None
        if str(self.output_dir.value) in ("", ".") or not folder.is_dir():
            self.timer.stop()
            self.status.value = f"'{folder}' is not a folder"
            return
        self.events = TrainingEvents(folder)
        self.refresh()
        self.timer.start(int(self.interval.value) * 1000)

    def refresh(self) -> None:
        """Read the new events, redraw the curves and update the validation slices."""
        if self.events is None:
            return
        self.events.reload()
        losses, metrics = self.events.losses(), self.events.metrics()
        self._plot(self.loss_axes, losses, "loss")
        self._plot(self.metric_axes, metrics, "validation")
        self.canvas.draw_idle()
        step, images = self.events.latest_images()
        if step is not None and step != self.image_step:
            self._show_slices(images)
            self.image_step = step
        points = sum(len(p) for p in losses.values())
        epoch = "" if self.image_step is None else f", validation slices of epoch {self.image_step}"
        self.status.value = f"{points} loss points{epoch}"

    @staticmethod
    def _plot(axes: Any, curves: dict[str, list[tuple[int, float]]], title: str) -> None:
        axes.clear()
        axes.set_title(title, fontsize=9)
        axes.tick_params(labelsize=7)
        for tag, points in curves.items():
            if points:
                steps, values = zip(*points)
                axes.plot(steps, values, marker="." if len(points) < 30 else None, label=tag)
        if curves:
            axes.legend(fontsize=7)

    def _show_slices(self, images: dict) -> None:
        for tag, image in images.items():
            name = f"validation {tag}"
            if name in self.viewer.layers:
                self.viewer.layers[name].data = image
                continue
            key = tag.split("/")[1] if tag.count("/") >= 2 else ""
            self.viewer.add_image(
                image,
                name=name,
                colormap=SLICE_COLORMAPS.get(key, "gray"),
                contrast_limits=[0.0, 1.0],
                blending="additive" if key in ("label", "pred") else "translucent",
            )
