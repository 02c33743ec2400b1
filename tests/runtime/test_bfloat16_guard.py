"""3D convolutions computed in float32 under bfloat16 autocast where oneDNN's bfloat16 weight gradients are wrong."""

import pytest
import torch

from unet3d_monai.networks import ResidualUNet3D, UNet2D
from unet3d_monai.runtime import CPURunSettings, apply_cpu_run, guard_bfloat16_convolutions, is_bfloat16_guarded


def _weight_gradient(conv: torch.nn.Module, inputs: torch.Tensor, upstream: torch.Tensor, bfloat16: bool):
    conv.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
        output = conv(inputs)
    output.backward(upstream.to(output.dtype))
    return output.dtype, conv.weight.grad.clone()


@pytest.mark.parametrize("transposed", [False, True])
def test_two_voxel_deep_inputs_compute_in_float32_and_match_float32_exactly(transposed):
    torch.manual_seed(0)
    kind = torch.nn.ConvTranspose3d if transposed else torch.nn.Conv3d
    conv = kind(16, 16, 3, padding=1, bias=False)
    assert guard_bfloat16_convolutions(conv) == 1
    inputs, upstream = torch.randn(2, 16, 2, 6, 6), torch.randn(2, 16, 2, 6, 6)
    _, reference = _weight_gradient(conv, inputs, upstream, bfloat16=False)
    for _ in range(10):  # unguarded, oneDNN's bfloat16 gradient here differs on every call, at times non-finite
        dtype, gradient = _weight_gradient(conv, inputs, upstream, bfloat16=True)
        assert dtype == torch.float32
        torch.testing.assert_close(gradient, reference, rtol=1e-5, atol=1e-6)


def test_other_depths_keep_bfloat16_and_autocast_is_on_again_after_a_guarded_call():
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(8, 8, 3, padding=1)
    guard_bfloat16_convolutions(conv)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(torch.randn(1, 8, 2, 4, 4)).dtype == torch.float32
        assert torch.is_autocast_enabled("cpu")
        assert conv(torch.randn(1, 8, 3, 4, 4)).dtype == torch.bfloat16
        assert conv(torch.randn(1, 8, 1, 4, 4)).dtype == torch.bfloat16
    assert conv(torch.randn(1, 8, 2, 4, 4)).dtype == torch.float32  # no autocast: nothing changes
    assert not torch.is_autocast_enabled("cpu")


def test_an_error_inside_a_guarded_convolution_leaves_autocast_as_it_was():
    conv = torch.nn.Conv3d(8, 8, 3, padding=1)
    guard_bfloat16_convolutions(conv)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with pytest.raises(RuntimeError):
            conv(torch.randn(1, 3, 2, 4, 4))  # 3 channels for 8
        assert torch.is_autocast_enabled("cpu")


def test_a_bfloat16_run_guards_3d_networks_once_and_leaves_2d_networks_alone():
    settings = CPURunSettings(allocator=False, threads=None, channels_last=False, bfloat16=True)
    network = ResidualUNet3D(1, 1, f_maps=[4, 8], num_groups=2)
    convolutions = sum(isinstance(m, torch.nn.Conv3d) for m in network.modules())
    apply_cpu_run(settings, network)
    apply_cpu_run(settings, network)
    assert is_bfloat16_guarded(network)
    hooks = sum(len(m._forward_pre_hooks) for m in network.modules() if isinstance(m, torch.nn.Conv3d))
    assert hooks == convolutions
    flat = UNet2D(1, 1, f_maps=[4, 8], num_groups=2)
    apply_cpu_run(settings, flat)
    assert not is_bfloat16_guarded(flat)
    float32 = ResidualUNet3D(1, 1, f_maps=[4, 8], num_groups=2)
    apply_cpu_run(CPURunSettings(allocator=False, threads=None, channels_last=False, bfloat16=False), float32)
    assert not is_bfloat16_guarded(float32)
