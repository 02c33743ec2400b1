import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unet3d_monai.losses import BCEWithLogitsLoss


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_hand_computed_value():
    logits = torch.tensor([0.0, 2.0, -1.0]).view(1, 1, 3)
    target = torch.tensor([1.0, 0.0, 1.0]).view(1, 1, 3)
    # -log(sigmoid(x)) = softplus(-x), -log(1 - sigmoid(x)) = softplus(x)
    expected = (softplus(-0.0) + softplus(2.0) + softplus(1.0)) / 3
    assert BCEWithLogitsLoss()(logits, target).item() == pytest.approx(expected, rel=1e-6)
    assert BCEWithLogitsLoss(reduction="sum")(logits, target).item() == pytest.approx(3 * expected, rel=1e-6)
    per_element = BCEWithLogitsLoss(reduction="none")(logits, target)
    np.testing.assert_allclose(per_element.flatten().numpy(), [math.log(2), softplus(2.0), softplus(1.0)], rtol=1e-6)


def test_pos_weight_per_channel():
    logits = torch.tensor([[[1.0, -2.0]], [[0.5, 3.0]]]).view(1, 2, 2)
    target = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]]).view(1, 2, 2)
    # channel 0 positives weighted by 2, channel 1 positives by 3
    expected = (2 * softplus(-1.0) + softplus(-2.0) + 3 * softplus(-0.5) + 3 * softplus(-3.0)) / 4
    assert BCEWithLogitsLoss(pos_weight=[2.0, 3.0])(logits, target).item() == pytest.approx(expected, rel=1e-6)
    assert BCEWithLogitsLoss(pos_weight=2.0)(logits[:, :1], target[:, :1]).item() == pytest.approx(
        (2 * softplus(-1.0) + softplus(-2.0)) / 2, rel=1e-6
    )


def test_ignore_index_is_exact():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2, 4, 5, generator=generator)
    target = (torch.rand(2, 2, 4, 5, generator=generator) > 0.5).float()
    target[torch.rand(2, 2, 4, 5, generator=generator) > 0.6] = -1
    kept = target != -1
    expected = F.binary_cross_entropy_with_logits(logits[kept], target[kept])
    assert BCEWithLogitsLoss(ignore_index=-1)(logits, target).item() == pytest.approx(expected.item(), rel=1e-6)
    # ignored elements get no gradient
    logits.requires_grad_(True)
    BCEWithLogitsLoss(ignore_index=-1)(logits, target).backward()
    assert torch.all(logits.grad[~kept] == 0) and torch.all(logits.grad[kept] != 0)


def test_everything_ignored_gives_zero():
    loss = BCEWithLogitsLoss(ignore_index=-1)(torch.randn(1, 1, 3), torch.full((1, 1, 3), -1.0))
    assert loss.item() == 0.0


def test_skip_last_target():
    logits = torch.randn(2, 1, 3, 3)
    target = (torch.rand(2, 1, 3, 3) > 0.5).float()
    instances = torch.randint(0, 50, (2, 1, 3, 3)).float()
    with_instances = BCEWithLogitsLoss(skip_last_target=True)(logits, torch.cat([target, instances], dim=1))
    assert with_instances.item() == pytest.approx(BCEWithLogitsLoss()(logits, target).item(), rel=1e-6)


def test_integer_target_accepted():
    logits = torch.randn(1, 1, 4)
    target = torch.tensor([[[0, 1, 1, 0]]])
    assert BCEWithLogitsLoss()(logits, target).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, target.float()).item(), rel=1e-6
    )


def test_shape_mismatch_messages():
    with pytest.raises(
        ValueError, match=r"one channel per output channel.*\(2, 1, 4, 4\).*\(2, 2, 4, 4\).*skip_last_target"
    ):
        BCEWithLogitsLoss()(torch.zeros(2, 1, 4, 4), torch.zeros(2, 2, 4, 4))
    with pytest.raises(ValueError, match=r"no channel axis"):
        BCEWithLogitsLoss()(torch.zeros(2, 1, 4, 4), torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match=r"skip_last_target=True needs .* at least two"):
        BCEWithLogitsLoss(skip_last_target=True)(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4))


def test_bad_options():
    with pytest.raises(ValueError, match="pos_weight has 3 values but the logits have 2 channels"):
        BCEWithLogitsLoss(pos_weight=[1.0, 2.0, 3.0])(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="pos_weight must be a number or a list of numbers; got 'two'"):
        BCEWithLogitsLoss(pos_weight="two")
    with pytest.raises(ValueError, match="non-negative"):
        BCEWithLogitsLoss(pos_weight=[-1.0])
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'; got 'avg'"):
        BCEWithLogitsLoss(reduction="avg")
