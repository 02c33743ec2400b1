import math

import pytest
import torch
import torch.nn.functional as F

from unet3d_monai.losses import WeightedCrossEntropyLoss


def test_hand_computed_value():
    # voxel probabilities [1/4, 3/4] and [1/2, 1/2]; classes [1, 0]
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0]]], dtype=torch.float64)
    classes = torch.tensor([[1, 0]])
    # class sums: p0 = 3/4, p1 = 5/4; (1 - p) sums: 5/4, 3/4
    w0, w1 = (5 / 4) / (3 / 4), (3 / 4) / (5 / 4)
    expected = (w1 * -math.log(3 / 4) + w0 * math.log(2)) / (w1 + w0)
    assert WeightedCrossEntropyLoss()(logits, classes).item() == pytest.approx(expected, rel=1e-9)
    assert WeightedCrossEntropyLoss()(logits, classes.unsqueeze(1).float()).item() == pytest.approx(expected, rel=1e-9)
    assert WeightedCrossEntropyLoss(reduction="sum")(logits, classes).item() == pytest.approx(
        w1 * -math.log(3 / 4) + w0 * math.log(2), rel=1e-9
    )


def test_weights_are_detached():
    generator = torch.Generator().manual_seed(11)
    logits = torch.randn(2, 3, 4, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    classes = torch.randint(0, 3, (2, 4, 4), generator=generator)
    loss = WeightedCrossEntropyLoss()
    weight = loss.class_weights(logits, classes)
    p = torch.softmax(logits.detach(), 1)
    torch.testing.assert_close(weight, (1 - p).sum(dim=(0, 2, 3)) / p.sum(dim=(0, 2, 3)))
    loss(logits, classes).backward()
    reference = logits.detach().clone().requires_grad_(True)
    F.cross_entropy(reference, classes, weight=weight).backward()
    torch.testing.assert_close(logits.grad, reference.grad)


def test_ignore_index_is_exact():
    generator = torch.Generator().manual_seed(12)
    logits = torch.randn(2, 3, 5, 5, generator=generator, dtype=torch.float64)
    classes = torch.randint(0, 3, (2, 5, 5), generator=generator)
    kept = torch.rand(2, 5, 5, generator=generator) > 0.3
    target = torch.where(kept, classes, torch.full_like(classes, -1))
    subset_logits = logits.movedim(1, -1)[kept].T.unsqueeze(0)  # (1, C, n_kept)
    expected = WeightedCrossEntropyLoss()(subset_logits, classes[kept].unsqueeze(0))
    assert WeightedCrossEntropyLoss()(logits, target).item() == pytest.approx(expected.item(), rel=1e-9)


def test_bad_target():
    with pytest.raises(ValueError, match="WeightedCrossEntropyLoss expects integer class indices"):
        WeightedCrossEntropyLoss()(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3))
