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
