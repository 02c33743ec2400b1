import numpy as np
import torch
from ignite.engine import Engine
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
