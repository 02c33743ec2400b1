import math

import pytest
import torch
import torch.nn.functional as F

from unet3d_monai.losses import CrossEntropyLoss

# voxel 0: logits [1, 2, 3], class 2; voxel 1: logits [0, 0, 0], class 0
LOGITS = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]], dtype=torch.float64)
CLASSES = torch.tensor([[2, 0]])
LOSS0 = math.log(math.e + math.e**2 + math.e**3) - 3
LOSS1 = math.log(3)


def test_hand_computed_value():
    assert CrossEntropyLoss()(LOGITS, CLASSES).item() == pytest.approx((LOSS0 + LOSS1) / 2, rel=1e-9)
    assert CrossEntropyLoss(reduction="sum")(LOGITS, CLASSES).item() == pytest.approx(LOSS0 + LOSS1, rel=1e-9)
    weighted = CrossEntropyLoss(weight=[1.0, 2.0, 4.0])(LOGITS, CLASSES)
    assert weighted.item() == pytest.approx((4 * LOSS0 + 1 * LOSS1) / 5, rel=1e-9)


def test_target_forms():
    expected = (LOSS0 + LOSS1) / 2
    for target in (CLASSES, CLASSES.unsqueeze(1), CLASSES.float(), CLASSES.unsqueeze(1).double(), CLASSES.int()):
        assert CrossEntropyLoss()(LOGITS, target).item() == pytest.approx(expected, rel=1e-9)
    assert CrossEntropyLoss(reduction="none")(LOGITS, CLASSES.unsqueeze(1).float()).shape == (1, 2)


def test_ignore_index_is_exact():
    generator = torch.Generator().manual_seed(10)
    logits = torch.randn(2, 4, 5, 6, generator=generator, dtype=torch.float64)
    classes = torch.randint(0, 4, (2, 5, 6), generator=generator)
    kept = torch.rand(2, 5, 6, generator=generator) > 0.3
    target = torch.where(kept, classes, torch.full_like(classes, 255)).unsqueeze(1).float()
    expected = F.cross_entropy(logits.movedim(1, -1)[kept], classes[kept], weight=torch.tensor([1.0, 2, 3, 4]).double())
    loss = CrossEntropyLoss(weight=[1.0, 2.0, 3.0, 4.0], ignore_index=255)(logits, target)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-9)


def test_everything_ignored_gives_zero_not_nan():
    logits = torch.randn(1, 2, 3, requires_grad=True)
    loss = CrossEntropyLoss()(logits, torch.full((1, 3), -100))
    loss.backward()
    assert loss.item() == 0.0 and torch.all(logits.grad == 0)


def test_bad_targets():
    logits = torch.zeros(2, 3, 4, 4)
    with pytest.raises(
        ValueError,
        match=r"integer class indices of shape \(B, \*spatial\) or \(B, 1, \*spatial\).*"
        r"\(2, 3, 4, 4\).*\(2, 3, 4, 4\).*one-hot",
    ):
        CrossEntropyLoss()(logits, torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"got a target of shape \(2, 4, 5\)"):
        CrossEntropyLoss()(logits, torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="non-integer values"):
        CrossEntropyLoss()(logits, torch.full((2, 4, 4), 0.5))
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\] or ignore_index -100 .* values from 0 to 3"):
        CrossEntropyLoss()(logits, torch.tensor([0, 3]).repeat(2, 4, 2))
    with pytest.raises(ValueError, match="weight has 2 values but the logits have 3 channels"):
        CrossEntropyLoss(weight=[1.0, 1.0])(logits, torch.zeros(2, 4, 4))
