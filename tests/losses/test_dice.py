import math

import numpy as np
import pytest
import torch

from unet3d_monai.losses import DiceLoss


def logit(p: torch.Tensor) -> torch.Tensor:
    return torch.log(p / (1 - p))


def numpy_dice_loss(probabilities: np.ndarray, target: np.ndarray, kept: np.ndarray | None = None) -> float:
    """1 - mean over channels of 2 sum(p t) / (sum(p^2) + sum(t^2)), sums over batch and voxels of kept elements."""
    kept = np.ones_like(target, dtype=bool) if kept is None else kept
    dices = []
    for c in range(target.shape[1]):
        p, t = probabilities[:, c][kept[:, c]], target[:, c][kept[:, c]]
        dices.append(2 * np.sum(p * t) / (np.sum(p**2) + np.sum(t**2)))
    return 1 - float(np.mean(dices))


def test_hand_computed_value_over_the_batch():
    # channel 0 over a batch of two: sum(p t) = 1.8, sum(p^2) = 1.2, sum(t^2) = 3 -> dice 3.6 / 4.2 = 6 / 7
    p = torch.tensor([[[0.2, 0.8]], [[0.6, 0.4]]], dtype=torch.float64)
    t = torch.tensor([[[0.0, 1.0]], [[1.0, 1.0]]], dtype=torch.float64)
    assert DiceLoss(normalization="none")(p, t).item() == pytest.approx(1 / 7, abs=1e-5)
    assert DiceLoss()(logit(p), t).item() == pytest.approx(1 / 7, abs=1e-5)


def test_softmax_and_class_weights():
    # voxel probabilities [1/4, 3/4] and [1/2, 1/2]; classes [1, 0]
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0]]], dtype=torch.float64)
    target = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]], dtype=torch.float64)
    dice0 = 2 * 0.5 / (1 / 16 + 1 / 4 + 1)  # 16 / 21
    dice1 = 2 * 0.75 / (9 / 16 + 1 / 4 + 1)  # 24 / 29
    assert DiceLoss(normalization="softmax")(logits, target).item() == pytest.approx(1 - (dice0 + dice1) / 2, abs=1e-5)
    weighted = DiceLoss(normalization="softmax", weight=[1.0, 3.0])(logits, target)
    assert weighted.item() == pytest.approx((1 * (1 - dice0) + 3 * (1 - dice1)) / 2, abs=1e-5)
    per_channel = DiceLoss(normalization="softmax", reduction="none")(logits, target)
    np.testing.assert_allclose(per_channel.numpy(), [1 - dice0, 1 - dice1], atol=1e-5)
    summed = DiceLoss(normalization="softmax", reduction="sum")(logits, target)
    assert summed.item() == pytest.approx(2 - dice0 - dice1, abs=1e-5)


def test_empty_channel_counts_as_zero_dice():
    p = torch.tensor([[[0.5, 0.5]], [[0.9, 0.1]]], dtype=torch.float64).view(1, 2, 2)
    t = torch.tensor([[[1.0, 1.0]], [[0.0, 0.0]]], dtype=torch.float64).view(1, 2, 2)
    dice0 = 2 * 1.0 / (0.5 + 2)
    assert DiceLoss(normalization="none")(p, t).item() == pytest.approx(1 - dice0 / 2, abs=1e-5)


def test_matches_numpy_on_random_volume():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 4, 5, 6, generator=generator, dtype=torch.float64)
    target = (torch.rand(2, 3, 4, 5, 6, generator=generator) > 0.7).double()
    expected = numpy_dice_loss(torch.sigmoid(logits).numpy(), target.numpy())
    assert DiceLoss()(logits, target).item() == pytest.approx(expected, abs=1e-5)


def test_ignore_index_is_exact():
    generator = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 2, 6, 7, generator=generator, dtype=torch.float64)
    target = (torch.rand(2, 2, 6, 7, generator=generator) > 0.5).double()
    target[torch.rand(2, 2, 6, 7, generator=generator) > 0.7] = -1
    kept = (target != -1).numpy()
    expected = numpy_dice_loss(torch.sigmoid(logits).numpy(), target.numpy(), kept)
    assert DiceLoss(ignore_index=-1)(logits, target).item() == pytest.approx(expected, abs=1e-5)
    # ignoring whole voxels equals the loss on the kept voxels alone
    voxel_kept = torch.rand(2, 6, 7, generator=generator) > 0.3
    target = (torch.rand(2, 2, 6, 7, generator=generator) > 0.5).double()
    ignored = torch.where(voxel_kept.unsqueeze(1), target, torch.full_like(target, 255.0))
    subset_logits = logits.movedim(1, -1)[voxel_kept].T.unsqueeze(0)  # (1, C, n_kept)
    subset_target = target.movedim(1, -1)[voxel_kept].T.unsqueeze(0)
    for normalization in ("sigmoid", "softmax"):
        loss = DiceLoss(normalization=normalization, ignore_index=255)(logits, ignored)
        assert loss.item() == pytest.approx(DiceLoss(normalization=normalization)(subset_logits, subset_target).item())


def test_skip_last_target():
    logits = torch.randn(1, 2, 3, 3)
    target = (torch.rand(1, 2, 3, 3) > 0.5).float()
    instances = torch.randint(0, 9, (1, 1, 3, 3)).float()
    assert DiceLoss(skip_last_target=True)(logits, torch.cat([target, instances], 1)).item() == pytest.approx(
        DiceLoss()(logits, target).item()
    )


def test_errors():
    with pytest.raises(ValueError, match=r"DiceLoss expects a target with one channel per output channel"):
        DiceLoss()(torch.zeros(1, 1, 4), torch.zeros(1, 3, 4))
    with pytest.raises(ValueError, match="normalization='softmax' needs at least two output channels"):
        DiceLoss(normalization="softmax")(torch.zeros(1, 1, 4), torch.zeros(1, 1, 4))
    with pytest.raises(ValueError, match="normalization must be one of 'sigmoid', 'softmax', 'none'; got 'relu'"):
        DiceLoss(normalization="relu")
    with pytest.raises(ValueError, match="weight has 1 values but the logits have 2 channels"):
        DiceLoss(weight=[1.0])(torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))


def test_gradcheck():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 3, 3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    target = (torch.rand(2, 3, 3, 4, generator=generator) > 0.5).double()
    masked_target = target.clone()
    masked_target[0, 0, 0, :2] = -1
    weighted = DiceLoss(ignore_index=-1, weight=[1.0, 2.0, 0.5])
    assert torch.autograd.gradcheck(lambda x: weighted(x, masked_target), (logits,))
    softmax = DiceLoss(normalization="softmax")
    assert torch.autograd.gradcheck(lambda x: softmax(x, target), (logits,))
