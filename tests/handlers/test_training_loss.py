import math

import pytest
import torch
from ignite.engine import Engine, Events

from unet3d_monai.handlers import EpochLossMean, training_loss


def test_training_loss_reads_every_output_format():
    assert training_loss({"loss": torch.tensor(0.25), "pred": torch.zeros(2, 1, 4, 4)}) == 0.25
    assert training_loss([{"loss": torch.tensor([0.5])}, {"loss": torch.tensor([0.5])}]) == 0.5
    assert training_loss(torch.tensor(1.5, dtype=torch.bfloat16)) == 1.5
    assert training_loss(2) == 2.0


@pytest.mark.parametrize(
    "output, match",
    [
        ({"pred": torch.zeros(1)}, "no 'loss' entry"),
        ([], "empty list"),
        ({"loss": torch.zeros(2)}, r"one number, got a tensor of shape \(2,\)"),
        (None, "holds no loss"),
    ],
)
def test_training_loss_fails_loudly(output, match):
    with pytest.raises(ValueError, match=match):
        training_loss(output)


LOSSES = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def _trainer():
    trainer = Engine(lambda engine, batch: {"loss": torch.tensor(LOSSES[engine.state.iteration - 1])})
    EpochLossMean().attach(trainer)
    means = {}
    trainer.add_event_handler(
        Events.EPOCH_COMPLETED, lambda e: means.update({e.state.epoch: e.state.metrics["train_loss_epoch"]})
    )
    return trainer, means


def test_epoch_mean_is_published_and_survives_a_resume_in_mid_epoch():
    trainer, means = _trainer()
    trainer.run(range(3), max_epochs=2)
    assert means == {1: 7.0 / 3, 2: 56.0 / 3}

    # stop after iteration 4 (first of epoch 2), save the trainer's state, resume in a new trainer
    stopped, _ = _trainer()
    stopped.add_event_handler(Events.ITERATION_COMPLETED(once=4), lambda e: e.terminate())
    stopped.run(range(3), max_epochs=2)
    state = stopped.state_dict()
    assert state["train_loss_epoch_sum"] == 8.0 and state["train_loss_epoch_count"] == 1

    resumed, resumed_means = _trainer()
    resumed.load_state_dict(state)
    resumed.run(range(3), max_epochs=2)
    assert resumed_means == {2: 56.0 / 3}
    assert math.isclose(resumed_means[2], means[2], rel_tol=0, abs_tol=0)
