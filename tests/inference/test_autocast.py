import pytest
import torch

from unet3d_monai.inference import AutocastInferer
from unet3d_monai.losses import BCEDiceLoss
from unet3d_monai.networks import UNet3D


def test_bfloat16_forward_and_backward_close_to_float32():
    torch.manual_seed(0)
    network = UNet3D(1, 1, f_maps=8, num_levels=2)
    x, target = torch.randn(1, 1, 8, 16, 16), (torch.rand(1, 1, 8, 16, 16) > 0.5).float()
    exact = AutocastInferer(enabled=False)(x, network)
    mixed = AutocastInferer("cpu", "bfloat16")(x, network)
    assert exact.dtype == torch.float32 and mixed.dtype == torch.bfloat16
    torch.testing.assert_close(mixed.float(), exact, rtol=0.05, atol=0.05)
    loss = BCEDiceLoss()(mixed, target)
    assert loss.dtype == torch.float32
    loss.backward()
    grads = [p.grad for p in network.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_bad_options():
    with pytest.raises(ValueError, match="dtype must be one of"):
        AutocastInferer(dtype="float8")
    with pytest.raises(ValueError, match="device_type must be 'cpu' or 'cuda'"):
        AutocastInferer(device_type="tpu")
