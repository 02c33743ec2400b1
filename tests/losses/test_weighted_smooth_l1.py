import pytest
import torch

from unet3d_monai.losses import WeightedSmoothL1Loss

PREDICTION = torch.tensor([[[0.0, 1.0, 2.0, -1.0]]], dtype=torch.float64)
TARGET = torch.tensor([[[0.5, 3.0, 2.0, 1.0]]], dtype=torch.float64)
SMOOTH_L1 = [0.125, 1.5, 0.0, 1.5]  # beta 1


def test_weight_below_threshold():
    # targets below 1.5: 0.5 and 1.0 -> elements 0 and 3 weighted by 10
    loss = WeightedSmoothL1Loss(threshold=1.5, initial_weight=10.0)
    expected = (10 * 0.125 + 1.5 + 0.0 + 10 * 1.5) / 4
    assert loss(PREDICTION, TARGET).item() == pytest.approx(expected)


def test_weight_at_or_above_threshold():
    # targets >= 2.0: 3.0 and 2.0 (equality counts as above) -> elements 1 and 2 weighted by 0.1
    loss = WeightedSmoothL1Loss(threshold=2.0, initial_weight=0.1, apply_below_threshold=False)
    expected = (0.125 + 0.1 * 1.5 + 0.1 * 0.0 + 1.5) / 4
    assert loss(PREDICTION, TARGET).item() == pytest.approx(expected)


def test_ignore_index_and_skip_last_target():
    target = TARGET.clone()
    target[0, 0, 3] = -9
    stacked = torch.cat([target, torch.zeros_like(target)], dim=1)
    loss = WeightedSmoothL1Loss(threshold=1.5, initial_weight=10.0, ignore_index=-9, skip_last_target=True)
    assert loss(PREDICTION, stacked).item() == pytest.approx((10 * 0.125 + 1.5 + 0.0) / 3)


def test_gradcheck():
    generator = torch.Generator().manual_seed(15)
    prediction = torch.randn(2, 1, 3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 1, 3, 4, generator=generator, dtype=torch.float64) * 2
    loss = WeightedSmoothL1Loss(threshold=0.0, initial_weight=3.0)
    assert torch.autograd.gradcheck(lambda x: loss(x, target), (prediction,))
