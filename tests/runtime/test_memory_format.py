import pytest
import torch

from unet3d_monai.networks import ResidualUNet3D, ResidualUNetSE3D, UNet2D, UNet3D
from unet3d_monai.runtime import is_channels_last_3d, to_channels_last_3d

NETWORKS_3D = {
    "UNet3D": lambda: UNet3D(1, 2, f_maps=[4, 8, 16], layer_order="gcr", num_groups=2),
    "UNet3D_bcr": lambda: UNet3D(2, 1, f_maps=[4, 8], layer_order="bcr", num_groups=2),
    "ResidualUNet3D": lambda: ResidualUNet3D(1, 1, f_maps=[4, 8, 16], num_groups=2),
    "ResidualUNetSE3D": lambda: ResidualUNetSE3D(1, 3, f_maps=[4, 8, 16], num_groups=2),
}


def _pair(name):
    """The same network twice (same weights), the second stored channels-last."""
    torch.manual_seed(0)
    channels_first = NETWORKS_3D[name]()
    channels_last = NETWORKS_3D[name]()
    channels_last.load_state_dict(channels_first.state_dict())
    return channels_first, to_channels_last_3d(channels_last)


@pytest.mark.parametrize("name", sorted(NETWORKS_3D))
def test_channels_last_predicts_as_channels_first(name):
    channels_first, channels_last = _pair(name)
    assert not is_channels_last_3d(channels_first) and is_channels_last_3d(channels_last)
    channels_first.eval(), channels_last.eval()
    x = torch.randn(2, 2 if name == "UNet3D_bcr" else 1, 16, 24, 20, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = channels_first(x)
        result = channels_last(x)
    assert result.shape == expected.shape
    assert result.is_contiguous(memory_format=torch.channels_last_3d)  # the layout reached the output
    torch.testing.assert_close(result, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(NETWORKS_3D))
def test_channels_last_trains_as_channels_first(name):
    """Same loss and same weight gradients (a training step) in both layouts."""
    channels_first, channels_last = _pair(name)
    x = torch.randn(1, 2 if name == "UNet3D_bcr" else 1, 16, 16, 16, generator=torch.Generator().manual_seed(2))
    losses = []
    for network in (channels_first, channels_last):
        network.train()
        loss = network(x).square().mean()
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-4, atol=1e-6)
    pairs = zip(channels_first.named_parameters(), channels_last.named_parameters(), strict=True)
    for (key, first), (_, last) in pairs:
        torch.testing.assert_close(last.grad, first.grad, rtol=1e-3, atol=1e-5, msg=key)


def test_two_dimensional_network_is_left_as_it_is():
    network = UNet2D(1, 1, f_maps=[4, 8], num_groups=2)
    before = {k: v.stride() for k, v in network.state_dict().items()}
    assert to_channels_last_3d(network) is network
    assert {k: v.stride() for k, v in network.state_dict().items()} == before
    assert not is_channels_last_3d(network)


def test_weights_with_one_input_channel_do_not_fool_the_check():
    # a (4, 1, 3, 3, 3) weight is contiguous in both layouts; the check reads a weight that tells them apart
    network = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3), torch.nn.Conv3d(4, 4, 3))
    assert network[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert not is_channels_last_3d(network)
    assert is_channels_last_3d(to_channels_last_3d(network))
