import pytest
import torch
from monai.bundle import ConfigParser
from torch.nn.modules.loss import _Loss

import unet3d_monai.losses as losses


def test_every_export_is_a_loss():
    assert len(losses.__all__) == 11
    for name in losses.__all__:
        assert issubclass(getattr(losses, name), _Loss), name


@pytest.mark.parametrize(
    ("config", "logits", "target"),
    [
        ({"_target_": "unet3d_monai.losses.BCEDiceLoss", "skip_last_target": True}, (1, 1, 4, 4), (1, 2, 4, 4)),
        (
            {"_target_": "unet3d_monai.losses.DiceLoss", "normalization": "softmax", "weight": [1, 2]},
            (1, 2, 4),
            (1, 2, 4),
        ),
        ({"_target_": "unet3d_monai.losses.CrossEntropyLoss", "weight": [1.0, 2.0, 3.0]}, (1, 3, 4), (1, 1, 4)),
        ({"_target_": "unet3d_monai.losses.PixelWiseCrossEntropyLoss", "class_weights": [1, 2]}, (1, 2, 4), (1, 2, 4)),
        (
            {"_target_": "unet3d_monai.losses.WeightedSmoothL1Loss", "threshold": 0.5, "initial_weight": 2},
            (1, 1, 4),
            (1, 1, 4),
        ),
    ],
)
def test_bundle_target(config, logits, target):
    loss = ConfigParser({"loss": config}).get_parsed_content("loss")
    value = loss(torch.randn(logits), torch.zeros(target))
    assert value.ndim == 0 and torch.isfinite(value)


def test_misspelt_option_is_rejected():
    with pytest.raises(TypeError, match="ignore_idx"):
        losses.DiceLoss(ignore_idx=0)


def test_weights_follow_the_module_dtype():
    loss = losses.DiceLoss(weight=[1.0, 2.0]).double()
    assert loss.weight.dtype == torch.float64
    assert loss(torch.zeros(1, 2, 3, dtype=torch.float64), torch.ones(1, 2, 3)).dtype == torch.float64


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_outputs_are_computed_in_float32(dtype):
    # 131072 voxels with p = sigmoid(3) ~ 0.95: sum(p^2) ~ 1.2e5 overflows float16
    logits = torch.full((1, 1, 32, 64, 64), 3.0)
    target = torch.ones_like(logits)
    classes = torch.zeros(1, 32, 64, 64)
    logits3 = torch.cat([logits, torch.zeros_like(logits), -logits], dim=1)
    cases = [
        (losses.DiceLoss(), logits, target),
        (losses.GeneralizedDiceLoss(), logits, target),
        (losses.BCEDiceLoss(), logits, target),
        (losses.CrossEntropyLoss(), logits3, classes),
        (losses.WeightedCrossEntropyLoss(), logits3, classes),
    ]
    for loss, x, y in cases:
        half = loss(x.to(dtype), y)
        assert half.dtype == torch.float32
        assert half.item() == pytest.approx(loss(x.to(dtype).float(), y).item(), rel=1e-6), type(loss).__name__
