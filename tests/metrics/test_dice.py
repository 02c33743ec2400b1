import pytest
import torch

from unet3d_monai.metrics import DiceCoefficient


def image(*channels: list[float]) -> torch.Tensor:
    """A (1, C, 1, N) tensor from C lists of N values."""
    return torch.tensor(channels, dtype=torch.float32).view(1, len(channels), 1, len(channels[0]))


def test_soft_dice_hand_computed():
    # 2 * 1.5 / (1.25 + 2)
    value = DiceCoefficient()(y_pred=image([1.0, 0.5, 0.0, 0.0]), y=image([1, 1, 0, 0]))
    assert value.item() == pytest.approx(3 / 3.25)


def test_thresholded_dice():
    value = DiceCoefficient(threshold=0.4)(y_pred=image([1.0, 0.5, 0.0, 0.0]), y=image([1, 1, 0, 0]))
    assert value.item() == pytest.approx(1.0)


def test_mean_over_channels_and_items():
    y_pred = image([1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0])
    y = image([1, 1, 0, 0], [0, 0, 0, 1])
    metric = DiceCoefficient()
    per_channel = metric(y_pred=y_pred, y=y)
    assert per_channel[0].tolist() == pytest.approx([3 / 3.25, 0.0])
    metric(y_pred=y, y=y)  # a perfect second item
    assert metric.aggregate().item() == pytest.approx((3 / 3.25 / 2 + 1.0) / 2)
    assert DiceCoefficient.higher_is_better is True


def test_class_indices_are_one_hot_encoded():
    y_pred = image([0.8, 0.6, 0.2, 0.4], [0.0, 0.0, 1.0, 0.5])
    classes = torch.tensor([0, 0, 1, 1]).view(1, 1, 1, 4)
    # channel 0: 2 * 1.4 / (1.2 + 2); channel 1: 2 * 1.5 / (1.25 + 2)
    assert DiceCoefficient()(y_pred=y_pred, y=classes)[0].tolist() == pytest.approx([2.8 / 3.2, 3 / 3.25])


def test_empty_channel_scores_zero_and_bad_inputs():
    assert DiceCoefficient()(y_pred=image([0.0, 0.0]), y=image([0, 0])).item() == 0.0
    with pytest.raises(ValueError, match="epsilon"):
        DiceCoefficient(epsilon=0)
    with pytest.raises(ValueError, match="class indices"):
        DiceCoefficient()(y_pred=image([0.5, 0.5], [0.5, 0.5]), y=torch.tensor([0, 2]).view(1, 1, 1, 2))
    with pytest.raises(ValueError, match="binary target per channel"):
        DiceCoefficient()(y_pred=image([0.5, 0.5]), y=image([0, 1], [1, 0]))
