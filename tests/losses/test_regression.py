import pytest
import torch

from unet3d_monai.losses import L1Loss, MSELoss, SmoothL1Loss

PREDICTION = torch.tensor([[[0.0, 1.0, 2.0, -1.0]]], dtype=torch.float64)
TARGET = torch.tensor([[[0.5, 3.0, 2.0, 1.0]]], dtype=torch.float64)  # errors 0.5, 2, 0, 2


def test_hand_computed_values():
    assert MSELoss()(PREDICTION, TARGET).item() == pytest.approx((0.25 + 4 + 0 + 4) / 4)
    assert L1Loss()(PREDICTION, TARGET).item() == pytest.approx((0.5 + 2 + 0 + 2) / 4)
    # beta 1: 0.5 d^2 below 1, d - 0.5 above
    assert SmoothL1Loss()(PREDICTION, TARGET).item() == pytest.approx((0.125 + 1.5 + 0 + 1.5) / 4)
    # beta 4: 0.5 d^2 / 4 everywhere
    assert SmoothL1Loss(beta=4.0)(PREDICTION, TARGET).item() == pytest.approx((0.03125 + 0.5 + 0 + 0.5) / 4)
    assert MSELoss(reduction="sum")(PREDICTION, TARGET).item() == pytest.approx(8.25)
    torch.testing.assert_close(
        L1Loss(reduction="none")(PREDICTION, TARGET), torch.tensor([[[0.5, 2.0, 0.0, 2.0]]], dtype=torch.float64)
    )


@pytest.mark.parametrize("loss_type", [MSELoss, L1Loss, SmoothL1Loss])
def test_ignore_index_is_exact(loss_type):
    target = TARGET.clone()
    target[0, 0, 1] = -5  # drop the element with error 2 against 3.0
    kept = target != -5
    expected = loss_type()(PREDICTION[kept].view(1, 1, -1), TARGET[kept].view(1, 1, -1))
    assert loss_type(ignore_index=-5)(PREDICTION, target).item() == pytest.approx(expected.item())
    assert loss_type(ignore_index=-5)(PREDICTION, target).item() != pytest.approx(
        loss_type()(PREDICTION, TARGET).item()
    )


@pytest.mark.parametrize("loss_type", [MSELoss, L1Loss, SmoothL1Loss])
def test_skip_last_target(loss_type):
    target = torch.cat([TARGET, torch.full_like(TARGET, 100.0)], dim=0).view(1, 2, 4)
    assert loss_type(skip_last_target=True)(PREDICTION, target).item() == pytest.approx(
        loss_type()(PREDICTION, TARGET).item()
    )


def test_errors():
    with pytest.raises(ValueError, match=r"MSELoss expects a target with one channel per output channel"):
        MSELoss()(torch.zeros(1, 1, 4), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="beta must be positive"):
        SmoothL1Loss(beta=0.0)
