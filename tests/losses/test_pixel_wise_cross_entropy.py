import math

import pytest
import torch

from unet3d_monai.losses import PixelWiseCrossEntropyLoss

# voxel 0: logits [1, 2, 3], class 2; voxel 1: logits [0, 0, 0], class 0
LOGITS = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]], dtype=torch.float64)
CLASSES = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
WEIGHTS = torch.tensor([[2.0, 0.5]], dtype=torch.float64)
LOSS0 = math.log(math.e + math.e**2 + math.e**3) - 3
LOSS1 = math.log(3)


def test_hand_computed_value():
    assert PixelWiseCrossEntropyLoss()(LOGITS, CLASSES, WEIGHTS).item() == pytest.approx(
        (2 * LOSS0 + 0.5 * LOSS1) / 2, rel=1e-9
    )
    with_class_weights = PixelWiseCrossEntropyLoss(class_weights=[1.0, 1.0, 3.0])(LOGITS, CLASSES, WEIGHTS)
    assert with_class_weights.item() == pytest.approx((2 * 3 * LOSS0 + 0.5 * LOSS1) / 2, rel=1e-9)
    per_voxel = PixelWiseCrossEntropyLoss(reduction="none")(LOGITS, CLASSES, WEIGHTS)
    torch.testing.assert_close(per_voxel, torch.tensor([[2 * LOSS0, 0.5 * LOSS1]], dtype=torch.float64))


def test_weight_map_as_last_target_channel():
    stacked = torch.stack([CLASSES, WEIGHTS], dim=1)  # (B, 2, *spatial): classes then weights
    loss = PixelWiseCrossEntropyLoss(class_weights=[1.0, 1.0, 3.0])
    assert loss(LOGITS, stacked).item() == pytest.approx((2 * 3 * LOSS0 + 0.5 * LOSS1) / 2, rel=1e-9)
    explicit = loss(LOGITS, CLASSES.unsqueeze(1), WEIGHTS.unsqueeze(1))
    assert explicit.item() == pytest.approx(loss(LOGITS, stacked).item(), rel=1e-12)


def test_unit_weights_equal_cross_entropy():
    generator = torch.Generator().manual_seed(13)
    logits = torch.randn(2, 3, 4, 4, generator=generator, dtype=torch.float64)
    classes = torch.randint(0, 3, (2, 4, 4), generator=generator)
    loss = PixelWiseCrossEntropyLoss()(logits, classes, torch.ones(2, 4, 4, dtype=torch.float64))
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, classes).item(), rel=1e-9)


def test_ignore_index_is_exact():
    generator = torch.Generator().manual_seed(14)
    logits = torch.randn(2, 3, 5, 5, generator=generator, dtype=torch.float64)
    classes = torch.randint(0, 3, (2, 5, 5), generator=generator)
    weights = torch.rand(2, 5, 5, generator=generator, dtype=torch.float64)
    kept = torch.rand(2, 5, 5, generator=generator) > 0.3
    target = torch.where(kept, classes, torch.full_like(classes, -1))
    loss = PixelWiseCrossEntropyLoss(ignore_index=-1)(logits, target, weights)
    log_p = torch.log_softmax(logits, 1).movedim(1, -1)[kept]
    expected = -(weights[kept] * log_p[torch.arange(int(kept.sum())), classes[kept]]).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-9)


def test_bad_inputs():
    logits = torch.zeros(1, 3, 4, 4)
    with pytest.raises(ValueError, match=r"without a weight map .* \(B, 2, \*spatial\) .*ConcatItemsd"):
        PixelWiseCrossEntropyLoss()(logits, torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"weight map of shape \(B, \*spatial\) .* got a weight map of shape \(1, 4\)"):
        PixelWiseCrossEntropyLoss()(logits, torch.zeros(1, 4, 4), torch.ones(1, 4))
    with pytest.raises(ValueError, match="class_weights has 2 values but the logits have 3 channels"):
        PixelWiseCrossEntropyLoss(class_weights=[1.0, 2.0])(logits, torch.zeros(1, 4, 4), torch.ones(1, 4, 4))
