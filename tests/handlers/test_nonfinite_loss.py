import pytest
import torch
from ignite.engine import Engine

from unet3d_monai.handlers import StopOnNonFiniteLoss
from unet3d_monai.handlers.nonfinite_loss import NonFiniteLossError


def test_stops_naming_iteration():
    losses = [1.0, 0.5, float("nan"), 0.1]
    engine = Engine(lambda e, b: [{"loss": torch.tensor(losses[e.state.iteration - 1])}])
    StopOnNonFiniteLoss().attach(engine)
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at iteration 3 \(epoch 2\)"):
        engine.run([0, 1], max_epochs=2)


def test_finite_losses_pass():
    engine = Engine(lambda e, b: {"loss": 0.25})
    StopOnNonFiniteLoss().attach(engine)
    state = engine.run([0, 1, 2], max_epochs=2)
    assert state.iteration == 6


def test_infinite_loss():
    engine = Engine(lambda e, b: torch.tensor(float("inf")))
    StopOnNonFiniteLoss().attach(engine)
    with pytest.raises(NonFiniteLossError, match="inf at iteration 1"):
        engine.run([0], max_epochs=1)
