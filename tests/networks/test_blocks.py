"""Building blocks: squeeze-and-excitation, upsampling, decoder joining, layer orders."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.blocks import ChannelSELayer as MonaiChannelSELayer

from unet3d_monai.networks.conv_block import DoubleConv, SingleConv
from unet3d_monai.networks.decoder import Decoder
from unet3d_monai.networks.encoder import Encoder
from unet3d_monai.networks.se import ChannelSELayer, ChannelSpatialSELayer, SpatialSELayer
from unet3d_monai.networks.upsampling import InterpolateUpsampling, TransposeConvUpsampling


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_channel_se_matches_monai(spatial_dims):
    torch.manual_seed(0)
    ours = ChannelSELayer(8, reduction_ratio=2, spatial_dims=spatial_dims)
    theirs = MonaiChannelSELayer(spatial_dims, 8, r=2)
    theirs.fc[0].load_state_dict(ours.fc1.state_dict())
    theirs.fc[2].load_state_dict(ours.fc2.state_dict())
    x = torch.randn(2, 8, *([5] * spatial_dims))
    torch.testing.assert_close(ours(x), theirs(x))


def test_channel_spatial_se_by_hand():
    layer = ChannelSpatialSELayer(2, reduction_ratio=1)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.zero_()
        layer.sSE.conv.bias.fill_(2.0)  # spatial weight sigmoid(2) = 0.8808; channel weight sigmoid(0) = 0.5
    x = torch.tensor([1.0, -1.0]).view(1, 2, 1, 1, 1).expand(1, 2, 2, 2, 2)
    s = 1.0 / (1.0 + torch.exp(torch.tensor(-2.0)))
    # max(0.5 * x, s * x): s * 1 for the positive channel, -0.5 for the negative one
    expected = torch.stack([s.expand(2, 2, 2), torch.full((2, 2, 2), -0.5)]).unsqueeze(0)
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(SpatialSELayer(2)(x).shape, x.shape)


def test_channel_se_refuses_a_ratio_larger_than_the_channels():
    with pytest.raises(ValueError, match="reduction_ratio=8 leaves no hidden unit for 4 channels"):
        ChannelSELayer(4, reduction_ratio=8)


def test_interpolate_upsampling_matches_torch():
    x = torch.rand(1, 3, 4, 5, 5)
    skip = torch.rand(1, 2, 9, 10, 11)
    for mode in ["nearest", "trilinear"]:
        expected = F.interpolate(x, size=(9, 10, 11), mode=mode)
        torch.testing.assert_close(InterpolateUpsampling(mode)(skip, x), expected)


def test_transposed_convolution_upsampling_by_hand():
    up = TransposeConvUpsampling(1, 1, kernel_size=1, stride=2, spatial_dims=2)
    with torch.no_grad():
        up.upsample.conv_transposed.weight.fill_(3.0)
    x = torch.tensor([[[[1.0, 2.0], [4.0, 5.0]]]])
    # stride 2 with a 1x1 kernel puts 3 * x on even positions of a 3x3 map [[3, 0, 6], [0, 0, 0], [12, 0, 15]];
    # nearest resizing to 4x4 takes rows and columns floor(i * 3 / 4) = 0, 0, 1, 2
    y = up(torch.zeros(1, 1, 4, 4), x)
    expected = torch.tensor([[3.0, 3.0, 0.0, 6.0], [3.0, 3.0, 0.0, 6.0], [0.0, 0.0, 0.0, 0.0], [12, 12, 0, 15]])
    torch.testing.assert_close(y[0, 0], expected)
    assert up.upsample.conv_transposed.bias is None


def test_decoder_concatenates_encoder_features_first():
    decoder = Decoder(InterpolateUpsampling("nearest"), nn.Identity(), concat=True)
    skip, deep = torch.rand(1, 2, 6, 6, 6), torch.rand(1, 3, 3, 3, 3)
    y = decoder(skip, deep)
    torch.testing.assert_close(y[:, :2], skip)
    torch.testing.assert_close(y[:, 2:], deep.repeat_interleave(2, 2).repeat_interleave(2, 3).repeat_interleave(2, 4))
    summing = Decoder(InterpolateUpsampling("nearest"), nn.Identity(), concat=False)
    torch.testing.assert_close(summing(skip, deep[:, :2]), skip + F.interpolate(deep[:, :2], size=(6, 6, 6)))


def test_encoder_pools_before_its_block():
    encoder = Encoder(nn.Identity(), pool_kernel_size=(1, 2, 2))
    x = torch.arange(16.0).view(1, 1, 1, 4, 4)
    torch.testing.assert_close(encoder(x), torch.tensor([[[[[5.0, 7.0], [13.0, 15.0]]]]]))
    assert isinstance(Encoder(nn.Identity(), pool_kernel_size=None).pooling, nn.Identity)


def test_norm_before_the_convolution_normalises_its_input_channels():
    unit = SingleConv(4, 8, layer_order="gcr", num_groups=2)
    assert unit.groupnorm.num_channels == 4 and unit.groupnorm.num_groups == 2
    after = SingleConv(4, 8, layer_order="cgr", num_groups=2)
    assert after.groupnorm.num_channels == 8


def test_double_conv_decoder_keeps_output_channels():
    block = DoubleConv(24, 8, encoder=False, num_groups=4)
    assert block.SingleConv1.conv.in_channels == 24 and block.SingleConv1.conv.out_channels == 8
    assert block.SingleConv2.conv.in_channels == 8


def test_relu_does_not_overwrite_the_caller_input():
    unit = SingleConv(2, 2, layer_order="dcr").eval()
    x = torch.randn(1, 2, 4, 4, 4)
    copy = x.clone()
    unit(x)
    torch.testing.assert_close(x, copy)
    assert unit.ReLU.inplace  # the ReLU follows the convolution, whose output it may overwrite
    assert not SingleConv(2, 2, layer_order="cdr").ReLU.inplace
