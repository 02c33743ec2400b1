import pytest
import torch

from unet3d_monai.inference.window_fit import network_min_window
from unet3d_monai.networks import ResidualUNet3D, UNet3D
from unet3d_monai.networks.unet import pool_kernels_per_level

TINY = {"f_maps": [4, 8, 16], "num_groups": 2}


@pytest.mark.parametrize("upsample", ["nearest", "deconv"])
@pytest.mark.parametrize("network_class", [UNet3D, ResidualUNet3D])
def test_each_level_pools_with_its_own_kernel(network_class, upsample):
    network = network_class(1, 2, pool_kernel_size=[[1, 2, 2], [2, 2, 2]], upsample=upsample, **TINY).eval()
    assert network.encoders[1].pooling.kernel_size == (1, 2, 2)
    assert network.encoders[2].pooling.kernel_size == (2, 2, 2)
    if upsample == "deconv":
        # decoders run deepest first: the first undoes the (2, 2, 2) pooling, the second the (1, 2, 2) one
        assert network.decoders[0].upsampling.upsample.conv_transposed.stride == (2, 2, 2)
        assert network.decoders[1].upsampling.upsample.conv_transposed.stride == (1, 2, 2)
    # z is pooled once (by 2): 2 slices are the least; y and x are pooled twice: 4
    assert network.min_input_size == [2, 4, 4]
    assert network_min_window(network) == (2, 4, 4)
    with torch.no_grad():
        assert network(torch.rand(1, 1, 5, 13, 10)).shape == (1, 2, 5, 13, 10)
    with pytest.raises(ValueError, match="at least"):
        network(torch.rand(1, 1, 1, 16, 16))


def test_per_level_kernels_are_recorded_and_rebuild_the_network():
    network = UNet3D(1, 1, pool_kernel_size=[[1, 2, 2], [2, 2, 2]], **TINY)
    assert network.arguments["pool_kernel_size"] == [[1, 2, 2], [2, 2, 2]]
    rebuilt = UNet3D(**network.arguments)
    assert rebuilt.arguments == network.arguments
    # identical kernels at every level are recorded as one kernel, as before
    assert UNet3D(1, 1, pool_kernel_size=[[1, 2, 2], [1, 2, 2]], **TINY).arguments["pool_kernel_size"] == [1, 2, 2]


def test_pool_kernels_per_level_forms():
    assert pool_kernels_per_level(2, 3, 2) == [(2, 2, 2), (2, 2, 2)]
    assert pool_kernels_per_level((1, 2, 2), 3, 3) == [(1, 2, 2)] * 3
    assert pool_kernels_per_level([[1, 2, 2], 2], 3, 2) == [(1, 2, 2), (2, 2, 2)]


@pytest.mark.parametrize(
    "pool, message",
    [
        ([[1, 2, 2]], r"lists 1 levels but the network pools 2 times"),
        ([[1, 2], [2, 2, 2]], r"pool_kernel_size must be an int or 3 ints"),
        ([[0, 2, 2], [2, 2, 2]], r"of at least 1"),
    ],
)
def test_bad_per_level_kernels_are_one_sentence(pool, message):
    with pytest.raises(ValueError, match=message):
        UNet3D(1, 1, pool_kernel_size=pool, **TINY)
