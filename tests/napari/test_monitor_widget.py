"""The training monitor: curves and validation slices from a training's TensorBoard events."""

import shutil

import numpy as np
import pytest

pytest.importorskip("napari", reason="the napari plugin needs the extra: pip install 'unet3d-monai[napari]'")
pytest.importorskip("pytestqt", reason="the widget tests need pytest-qt: pip install 'unet3d-monai[test]'")

from unet3d_monai.napari.events import TrainingEvents, read_training_events  # noqa: E402
from unet3d_monai.napari.monitor_widget import TrainingMonitor  # noqa: E402


def test_events_of_a_tiny_training(tiny_training):
    events = read_training_events(tiny_training / "output")
    losses = events.losses()
    assert len(losses["train_loss"]) == 2  # one point per iteration
    assert all(np.isfinite(value) for _, value in losses["train_loss"])
    assert events.metrics(), "no validation metric"
    step, images = events.latest_images()
    assert step == 1
    assert {"val/image/0", "val/label/0", "val/pred/0"} <= set(images)
    image = images["val/image/0"]
    assert image.ndim == 2 and image.dtype == np.float32 and 0.0 <= image.min() < image.max() <= 1.0
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TrainingEvents(tiny_training / "missing")


def test_monitor_plots_the_curves_and_shows_the_slices(viewer, tiny_training):
    monitor = TrainingMonitor(viewer, interval_s=1)
    if hasattr(viewer, "window"):
        viewer.window.add_dock_widget(monitor)
    monitor.output_dir.value = tiny_training / "output"
    assert monitor.timer.isActive() and monitor.timer.interval() == 1000
    lines = {line.get_label(): line for line in monitor.loss_axes.lines}
    assert len(lines["train_loss"].get_xdata()) == 2
    assert monitor.metric_axes.lines
    points = sum(len(p) for p in monitor.events.losses().values())  # train_loss and train_loss_epoch
    assert points >= 3 and monitor.status.value == f"{points} loss points, validation slices of epoch 1"
    assert "validation val/pred/0" in viewer.layers and "validation val/image/0" in viewer.layers
    assert viewer.layers["validation val/pred/0"].data.ndim == 2
    monitor.refresh()  # nothing new: the same layers, updated in place
    assert sum(layer.name.startswith("validation ") for layer in viewer.layers) == len(
        monitor.events.latest_images()[1]
    )
    monitor.output_dir.value = tiny_training / "missing"
    assert not monitor.timer.isActive()


def test_monitor_follows_a_run_that_writes(viewer, qtbot, tiny_training, tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    output = tmp_path / "output"
    shutil.copytree(tiny_training / "output", output)
    monitor = TrainingMonitor(viewer, interval_s=1)
    monitor.output_dir.value = output

    def train_loss_points():
        return {line.get_label(): len(line.get_xdata()) for line in monitor.loss_axes.lines}.get("train_loss")

    assert train_loss_points() == 2
    with SummaryWriter(str(output)) as writer:  # the run goes on: a third iteration
        writer.add_scalar("train_loss", 0.25, 3)
    qtbot.waitUntil(lambda: train_loss_points() == 3, timeout=10_000)  # the timer's refresh, no call of ours
    monitor.timer.stop()
