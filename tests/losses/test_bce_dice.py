import numpy as np
import pytest
import torch

from unet3d_monai.losses import BCEDiceLoss


def numpy_bce(logits: np.ndarray, target: np.ndarray) -> float:
    p = 1 / (1 + np.exp(-logits))
    return float(np.mean(-(target * np.log(p) + (1 - target) * np.log(1 - p))))


def numpy_dice_loss(logits: np.ndarray, target: np.ndarray) -> float:
    p = 1 / (1 + np.exp(-logits))
    axes = (0, *range(2, logits.ndim))
    dice = 2 * np.sum(p * target, axis=axes) / (np.sum(p**2, axis=axes) + np.sum(target**2, axis=axes))
    return 1 - float(np.mean(dice))


def test_hand_computed_value():
    # p = sigmoid(0) = 0.5 everywhere, target [1, 0, 1, 1]
    logits = torch.zeros(1, 1, 4, dtype=torch.float64)
    target = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]], dtype=torch.float64)
    bce = np.log(2)
    dice = 2 * 1.5 / (4 * 0.25 + 3)  # 0.75
    assert BCEDiceLoss()(logits, target).item() == pytest.approx(bce + 1 - dice, abs=1e-5)
    assert BCEDiceLoss(alpha=0.3, beta=2.0)(logits, target).item() == pytest.approx(
        0.3 * bce + 2.0 * (1 - dice), abs=1e-5
    )


def test_matches_numpy_on_random_volume():
    generator = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 2, 3, 4, 5, generator=generator, dtype=torch.float64)
    target = (torch.rand(2, 2, 3, 4, 5, generator=generator) > 0.6).double()
    expected = 0.7 * numpy_bce(logits.numpy(), target.numpy()) + 1.5 * numpy_dice_loss(logits.numpy(), target.numpy())
    assert BCEDiceLoss(alpha=0.7, beta=1.5)(logits, target).item() == pytest.approx(expected, abs=1e-5)


def test_ignore_index_is_exact_and_skip_last_target():
    generator = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 1, 5, 6, generator=generator, dtype=torch.float64)
    target = (torch.rand(2, 1, 5, 6, generator=generator) > 0.5).double()
    kept = torch.rand(2, 1, 5, 6, generator=generator) > 0.3
    ignored = torch.where(kept, target, torch.full_like(target, -1.0))
    instances = torch.randint(1, 20, (2, 1, 5, 6), generator=generator).double()
    loss = BCEDiceLoss(ignore_index=-1, skip_last_target=True)(logits, torch.cat([ignored, instances], dim=1))
    expected = numpy_bce(logits[kept].numpy(), target[kept].numpy()) + numpy_dice_loss(
        logits[kept].view(1, 1, -1).numpy(), target[kept].view(1, 1, -1).numpy()
    )
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_shape_mismatch_names_the_loss():
    with pytest.raises(
        ValueError, match=r"BCEDiceLoss expects a target with one channel per output channel.*skip_last"
    ):
        BCEDiceLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 4, 4))


def test_gradcheck():
    generator = torch.Generator().manual_seed(6)
    logits = torch.randn(2, 2, 3, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    target = (torch.rand(2, 2, 3, 3, generator=generator) > 0.5).double()
    target[1, 1, 0] = -1
    loss = BCEDiceLoss(alpha=0.5, beta=2.0, ignore_index=-1, pos_weight=[1.0, 3.0])
    assert torch.autograd.gradcheck(lambda x: loss(x, target), (logits,))
