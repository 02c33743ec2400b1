"""Shapes, options, validation, TorchScript, autocast and memory formats of the five U-Nets."""

import io

import pytest
import torch
import torch.nn as nn

from unet3d_monai.networks import ResidualUNet2D, ResidualUNet3D, ResidualUNetSE3D, UNet2D, UNet3D

TINY = {"f_maps": 4, "num_levels": 3, "num_groups": 2}
NETWORKS_3D = [UNet3D, ResidualUNet3D, ResidualUNetSE3D]
NETWORKS_2D = [UNet2D, ResidualUNet2D]
ALL_NETWORKS = NETWORKS_3D + NETWORKS_2D


def odd_input(network_class, batch=1, channels=1):
    spatial = (9, 13, 11) if network_class in NETWORKS_3D else (13, 11)
    return torch.rand(batch, channels, *spatial, generator=torch.Generator().manual_seed(0))


def seeded_network(network_class, **options):
    """A tiny ``network_class`` (1 input, 2 output channels) initialised from seed 0, in eval mode, and an input of
    odd sizes for it."""
    torch.manual_seed(0)
    return network_class(1, 2, **options, **TINY).eval(), odd_input(network_class)


@pytest.mark.parametrize("network_class", ALL_NETWORKS)
def test_odd_spatial_sizes_keep_their_shape(network_class):
    network = network_class(2, 3, **TINY).eval()
    x = odd_input(network_class, batch=2, channels=2)
    with torch.no_grad():
        y = network(x)
    assert y.shape == (2, 3, *x.shape[2:])
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("network_class", NETWORKS_2D)
def test_2d_networks_take_2d_input_and_refuse_3d(network_class):
    network = network_class(1, 1, **TINY).eval()
    with torch.no_grad():
        assert network(torch.rand(1, 1, 16, 20)).shape == (1, 1, 16, 20)
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 1, 2 spatial sizes\)"):
        network(torch.rand(1, 1, 4, 16, 20))


@pytest.mark.parametrize("network_class", NETWORKS_3D)
def test_3d_networks_refuse_2d_input_and_wrong_channels(network_class):
    network = network_class(1, 1, **TINY).eval()
    with pytest.raises(ValueError, match=r"got \[1, 1, 16, 16\]"):
        network(torch.rand(1, 1, 16, 16))
    with pytest.raises(
        ValueError, match=r"expects input of shape \(batch, 1, 3 spatial sizes\), got \[1, 2, 8, 8, 8\]"
    ):
        network(torch.rand(1, 2, 8, 8, 8))


def test_minimum_input_size_is_the_product_of_pooling_kernels():
    network = UNet3D(1, 1, pool_kernel_size=(1, 2, 2), **TINY).eval()
    assert network.min_input_size == [1, 4, 4]
    with torch.no_grad():
        assert network(torch.rand(1, 1, 1, 4, 4)).shape == (1, 1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"at least \[1, 4, 4\]"):
        network(torch.rand(1, 1, 1, 3, 4))
    assert UNet3D(1, 1).min_input_size == [8, 8, 8]
    assert ResidualUNet3D(1, 1, f_maps=4, num_groups=2).min_input_size == [16, 16, 16]
    # unpadded convolutions lose 4 voxels per level and per block: a 2-level U-Net needs 2 * (4 + 1) + 4 = 14
    assert UNet3D(1, 1, f_maps=4, num_levels=2, num_groups=2, conv_padding=0).min_input_size == [14, 14, 14]


def test_unpadded_convolutions_shrink_the_output_as_computed():
    network = UNet3D(1, 1, f_maps=4, num_levels=2, num_groups=2, conv_padding=0).eval()
    with torch.no_grad():
        # top level: 20 -> 16 after two valid convolutions; the decoder works at that size and shrinks it by 4
        assert network(torch.rand(1, 1, 20, 20, 14)).shape == (1, 1, 12, 12, 6)


def test_seed_defaults_and_channel_layout():
    network = UNet3D(1, 2)
    assert network.f_maps == [64, 128, 256, 512]
    first = network.encoders[0].basic_module
    assert first.SingleConv1.conv.out_channels == 32  # out // conv_upscale
    assert first.SingleConv1.conv.bias is None  # a norm in the order removes the bias
    assert first.SingleConv1.groupnorm.num_groups == 1  # 1 input channel < 8 groups
    assert first.SingleConv2.groupnorm.num_groups == 8
    assert network.decoders[0].basic_module.SingleConv1.conv.in_channels == 256 + 512
    assert isinstance(network.final_activation, nn.Sigmoid)
    assert ResidualUNet3D(1, 1).f_maps == [64, 128, 256, 512, 1024]
    assert UNet2D(1, 1).f_maps == [64, 128, 256, 512]
    assert ResidualUNet2D(1, 1).f_maps == [64, 128, 256, 512, 1024]


def test_encoder_first_convolution_channels():
    # never fewer channels than the input
    network = UNet3D(16, 1, f_maps=[8, 16], layer_order="cr")
    assert network.encoders[0].basic_module.SingleConv1.conv.out_channels == 16
    assert network.encoders[0].basic_module.SingleConv1.conv.bias is not None
    assert (
        UNet3D(1, 1, f_maps=8, num_levels=2, conv_upscale=1, num_groups=2)
        .encoders[1]
        .basic_module.SingleConv1.conv.out_channels
        == 16
    )


def test_layer_order_letters_build_the_named_layers():
    network = UNet3D(1, 1, f_maps=[8, 16], layer_order="cbeD", dropout_prob=0.3)
    unit = network.encoders[1].basic_module.SingleConv1
    assert [name for name, _ in unit.named_children()] == ["conv", "batchnorm", "ELU", "dropout"]
    assert isinstance(unit.dropout, nn.Dropout3d) and unit.dropout.p == 0.3
    assert unit.batchnorm.num_features == 8  # after the convolution: its output channels
    leaky = UNet2D(1, 1, f_maps=[8, 16], layer_order="gcld", dropout_prob=(0.2, 0.4))
    unit1, unit2 = leaky.encoders[0].basic_module.SingleConv1, leaky.encoders[0].basic_module.SingleConv2
    assert isinstance(unit1.LeakyReLU, nn.LeakyReLU) and unit1.LeakyReLU.negative_slope == 0.01
    assert type(unit1.dropout) is nn.Dropout and unit1.dropout.p == 0.2 and unit2.dropout.p == 0.4


def test_residual_block_layout():
    network = ResidualUNet3D(1, 1, f_maps=[4, 8, 8], num_groups=2, layer_order="gcl")
    block0, block2 = network.encoders[0].basic_module, network.encoders[2].basic_module
    assert block0.conv1.kernel_size == (1, 1, 1)
    assert isinstance(block2.conv1, nn.Identity)  # equal channels: no projection
    assert [name for name, _ in block0.conv3.named_children()] == ["groupnorm", "conv"]  # no non-linearity
    assert isinstance(block0.non_linearity, nn.LeakyReLU) and block0.non_linearity.negative_slope == 0.1
    decoder = network.decoders[0]
    assert not decoder.concat
    assert decoder.upsampling.upsample.conv_transposed.stride == (2, 2, 2)


def test_residual_block_computes_the_residual_sum():
    torch.manual_seed(0)
    network = ResidualUNet3D(1, 1, f_maps=[2, 4], num_groups=1, layer_order="cr").eval()
    block = network.encoders[1].basic_module
    x = torch.rand(1, 2, 4, 4, 4)
    with torch.no_grad():
        residual = block.conv1(x)
        inner = torch.relu(block.conv2.conv(residual))
        expected = torch.relu(block.conv3.conv(inner) + residual)
        torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize("upsample", ["default", "nearest", "trilinear", "deconv"])
@pytest.mark.parametrize("network_class", [UNet3D, ResidualUNet3D])
def test_anisotropic_pooling_with_every_upsampling(network_class, upsample):
    network = network_class(1, 2, pool_kernel_size=(1, 2, 2), upsample=upsample, **TINY).eval()
    assert network.encoders[1].pooling.kernel_size == (1, 2, 2)
    for decoder in network.decoders:
        if hasattr(decoder.upsampling, "upsample"):
            assert decoder.upsampling.upsample.conv_transposed.stride == (1, 2, 2)
    with torch.no_grad():
        y = network(torch.rand(1, 1, 3, 13, 10))
    assert y.shape == (1, 2, 3, 13, 10)


@pytest.mark.parametrize("upsample", ["nearest", "bilinear", "deconv"])
def test_flat_3d_network_equals_the_2d_network(upsample):
    """With kernels (1, 3, 3), padding (0, 1, 1) and pooling (1, 2, 2), a one-slice volume goes through the 3D
    network exactly as the image through the 2D network holding the same weights."""
    torch.manual_seed(0)
    options = {"f_maps": [4, 8, 16], "num_groups": 2, "upsample": upsample}
    flat = UNet3D(1, 2, conv_kernel_size=(1, 3, 3), conv_padding=(0, 1, 1), pool_kernel_size=(1, 2, 2), **options)
    planar = UNet2D(1, 2, **options)
    planar.load_state_dict(
        {key: value.squeeze(2) if value.dim() > 2 else value for key, value in flat.state_dict().items()}
    )
    x = torch.rand(2, 1, 13, 18)
    with torch.no_grad():
        torch.testing.assert_close(flat.eval()(x.unsqueeze(2)).squeeze(2), planar.eval()(x), atol=1e-5, rtol=1e-5)


def test_final_activation_options():
    assert isinstance(UNet3D(1, 3, final_sigmoid=False, **TINY).final_activation, nn.Softmax)
    assert isinstance(UNet3D(1, 1, is_segmentation=False, **TINY).final_activation, nn.Identity)
    network = UNet3D(1, 3, final_sigmoid=False, **TINY).eval()
    with torch.no_grad():
        probabilities = network.final_activation(network(torch.rand(1, 1, 8, 8, 8)))
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(1, 8, 8, 8))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"layer_order": "gxr"}, r"unknown letter\(s\) \['x'\]"),
        ({"layer_order": "gr"}, r"no convolution"),
        ({"layer_order": "rcg"}, r"starts with a non-linearity"),
        ({"layer_order": "gcgr"}, r"repeats letter\(s\) \['g'\]"),
        ({"layer_order": "cdD"}, r"both 'd' and 'D'"),
        ({"num_groups": 3}, r"num_groups=3 does not divide the 4 channels"),
        ({"f_maps": [4, 8, 16], "num_levels": 4}, r"lists 3 levels but num_levels=4"),
        ({"f_maps": [4]}, r"at least 2 positive channel counts"),
        ({"num_levels": 1}, r"num_levels must be at least 2"),
        ({"upsample": "bicubic"}, r"upsample must be one of 'default', 'nearest'"),
        ({"pool_kernel_size": (1, 2)}, r"pool_kernel_size must be an int or 3 ints"),
        ({"conv_padding": -1}, r"conv_padding must be an int or 3 ints .* of at least 0"),
        ({"dropout_prob": 1.5}, r"dropout_prob must lie in \[0, 1\]"),
        ({"dropout_prob": "high"}, r"dropout_prob must be a number or a pair of numbers, got 'high'"),
        ({"dropout_prob": [0.1, 0.2, 0.3]}, r"dropout_prob must be a number or a pair of numbers"),
        ({"f_maps": "8"}, r"f_maps must be an int or a list of ints"),
    ],
)
def test_invalid_options_get_one_clear_sentence(options, message):
    arguments = {"f_maps": 4, "num_groups": 2, **options}
    with pytest.raises(ValueError, match=message):
        UNet3D(1, 1, **arguments)


def test_residual_networks_need_size_preserving_convolutions():
    with pytest.raises(ValueError, match=r"ResidualUNet3D sums each block's input and output"):
        ResidualUNet3D(1, 1, conv_kernel_size=5, **TINY)
    network = ResidualUNet3D(1, 1, conv_kernel_size=5, conv_padding=2, **TINY).eval()
    with torch.no_grad():
        assert network(torch.rand(1, 1, 5, 9, 8)).shape == (1, 1, 5, 9, 8)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("network_class", ALL_NETWORKS)
def test_torchscript_script_save_load_and_trace(network_class):
    network, x = seeded_network(network_class)
    with torch.no_grad():
        expected = network(x)
        scripted = torch.jit.script(network)
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)
        buffer.seek(0)
        reloaded = torch.jit.load(buffer)
        torch.testing.assert_close(reloaded(x), expected, atol=1e-6, rtol=0)
        traced = torch.jit.trace(network, x)
        torch.testing.assert_close(traced(x), expected, atol=1e-6, rtol=0)
        # the scripted network keeps its input check
        with pytest.raises(torch.jit.Error, match="expects input of shape"):
            scripted(torch.rand(1, 3, *x.shape[2:]))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_keeps_layer_orders_with_the_same_layers_apart():
    """TorchScript reuses compiled types between modules with the same submodule names: 'cge' and 'gce' units
    must still run in their own order."""
    torch.manual_seed(0)
    x = torch.rand(1, 1, 8, 8, 8)
    for order in ["cgr", "gcr", "cge", "gce"]:
        network = ResidualUNet3D(1, 1, layer_order=order, **TINY).eval()
        with torch.no_grad():
            torch.testing.assert_close(torch.jit.script(network)(x), network(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("network_class", ALL_NETWORKS)
def test_bfloat16_autocast_runs_and_stays_close(network_class):
    network, x = seeded_network(network_class)
    with torch.no_grad():
        reference = network(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = network(x)
    assert y.dtype == torch.bfloat16
    assert (y.float() - reference).abs().max() < 0.05 * reference.abs().max() + 0.05


@pytest.mark.parametrize("upsample", ["default", "deconv", "trilinear"])
@pytest.mark.parametrize("network_class", NETWORKS_3D)
def test_channels_last_3d_gives_the_same_logits(network_class, upsample):
    network, x = seeded_network(network_class, upsample=upsample)
    with torch.no_grad():
        expected = network(x)
        network = network.to(memory_format=torch.channels_last_3d)
        y = network(x.contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=1e-5)


def test_training_step_updates_every_parameter():
    torch.manual_seed(0)
    network = ResidualUNetSE3D(1, 1, **TINY).train()
    x = torch.rand(2, 1, 8, 8, 8)
    network(x).mean().backward()
    without_gradient = [name for name, p in network.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert without_gradient == []


def _measured_receptive_field(network, size=64, width=8):
    """Extent along the first axis of the input pixels whose change alters one output pixel, over a few centres."""
    extent = 0
    generator = torch.Generator().manual_seed(0)
    positions = torch.arange(size)
    for centre in range(size // 2, size // 2 + 4):
        x = torch.rand(1, 1, size, width, dtype=torch.float64, generator=generator)
        with torch.no_grad():
            reference = network(x)[0, 0, centre, width // 2]
            for delta in (100.0, -100.0):
                perturbed = x.repeat(size, 1, 1, 1)
                perturbed[positions, 0, positions, width // 2] += delta
                changed = positions[(network(perturbed)[:, 0, centre, width // 2] - reference).abs() > 1e-12]
                extent = max(extent, int(changed.max() - changed.min()) + 1)
    return extent


@pytest.mark.parametrize("network_class, expected", [(UNet2D, 44), (ResidualUNet2D, 48)])
def test_receptive_field_matches_the_docstring(network_class, expected):
    torch.manual_seed(0)
    network = network_class(1, 1, f_maps=2, num_levels=3, layer_order="ce").double().eval()
    assert _measured_receptive_field(network) == expected
    assert f"{expected} with 3 levels" in network_class.__doc__
