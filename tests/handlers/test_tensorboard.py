import numpy as np
import torch
from ignite.engine import Engine, Events
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from unet3d_monai.handlers import LearningRateLogger, TensorBoardSliceHandler
from unet3d_monai.handlers.tensorboard_slices import middle_slice


def test_middle_slice_scales_each_channel():
    vol = np.zeros((2, 5, 3, 4), np.float32)
    vol[0, 2] = np.arange(12).reshape(3, 4)
    vol[1, 2] = 7.0  # constant channel
    out = middle_slice(vol)
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out[0], np.arange(12).reshape(3, 4) / 11.0, rtol=1e-6)
    assert np.all(out[1] == 0)
    assert middle_slice(torch.ones(1, 6, 7)).shape == (1, 6, 7)


def _events(log_dir):
    acc = EventAccumulator(str(log_dir), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_slices_and_learning_rate_written(tmp_path):
    writer = SummaryWriter(log_dir=str(tmp_path))
    item = {"image": torch.rand(1, 4, 8, 8), "label": torch.rand(2, 4, 8, 8), "pred": torch.rand(1, 4, 8, 8)}
    evaluator = Engine(lambda e, b: [item])
    TensorBoardSliceHandler(writer).attach(evaluator)
    evaluator.run([0, 1], max_epochs=2)

    net = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.125)
    trainer = Engine(lambda e, b: None)
    LearningRateLogger(opt, writer).attach(trainer)
    trainer.run([0], max_epochs=3)
    writer.close()

    acc = _events(tmp_path)
    tags = acc.Tags()
    assert {"val/image/0", "val/label/0", "val/label/1", "val/pred/0"} <= set(tags["images"])
    assert [e.step for e in acc.Images("val/image/0")] == [1, 2]
    lrs = acc.Scalars("learning_rate")
    assert [(e.step, e.value) for e in lrs] == [(1, 0.125), (2, 0.125), (3, 0.125)]


def test_iteration_speed_from_the_clock(tmp_path):
    """Fetching takes 0.5 s and the whole iteration 2 s (a fake clock): 2 samples / 2 s = 1 sample/s."""
    from unet3d_monai.handlers import IterationSpeedLogger

    ticks = iter([10.0, 10.5, 12.0, 20.0, 20.25, 24.0])
    writer = SummaryWriter(log_dir=str(tmp_path))
    trainer = Engine(lambda e, b: None)
    IterationSpeedLogger(writer, clock=lambda: next(ticks)).attach(trainer)
    trainer.run([{"image": torch.zeros(2, 1, 4, 4)}, {"image": torch.zeros(1, 1, 4, 4)}], max_epochs=1)
    writer.close()
    acc = _events(tmp_path)
    values = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    assert values == {
        "train_iteration_time": [(1, 2.0), (2, 4.0)],
        "train_data_time": [(1, 0.5), (2, 0.25)],
        "train_samples_per_second": [(1, 1.0), (2, 0.25)],
    }


def test_class_metrics_average_items_per_class(tmp_path):
    from unet3d_monai.handlers import TensorBoardClassMetrics

    writer = SummaryWriter(log_dir=str(tmp_path))
    evaluator = Engine(lambda e, b: None)

    @evaluator.on(Events.EPOCH_COMPLETED)
    def _details(engine):  # what MONAI's metric handlers leave with save_details=True: (items, classes)
        engine.state.metric_details = {
            "val_metric": torch.tensor([[0.5, float("nan"), 1.0], [0.75, 0.25, 1.0]]),
            "val_psnr": torch.tensor([[20.0], [30.0]]),
        }

    TensorBoardClassMetrics(writer, class_names=["background", "cells"]).attach(evaluator)
    evaluator.run([0], max_epochs=2)
    writer.close()
    acc = _events(tmp_path)
    values = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    assert values == {
        "val_metric/background": [(1, 0.625), (2, 0.625)],
        "val_metric/cells": [(1, 0.25), (2, 0.25)],
        "val_metric/class_2": [(1, 1.0), (2, 1.0)],
    }
