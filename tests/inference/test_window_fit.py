import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.inferers import SlidingWindowInferer

from tests.inference._networks import TinyNet
from unet3d_monai.inference import FittedSlidingWindowInferer, fit_window, network_min_window, predict
from unet3d_monai.networks import ResidualUNet2D, UNet2D, UNet3D


@pytest.mark.parametrize(
    "network, expected",
    [
        (UNet3D(1, 1, f_maps=4, num_levels=4, num_groups=2), (8, 8, 8)),
        (UNet3D(1, 1, f_maps=4, num_levels=3, num_groups=2, pool_kernel_size=(1, 2, 2)), (1, 4, 4)),
        (UNet2D(1, 1, f_maps=4, num_levels=3, num_groups=2), (4, 4)),
        (ResidualUNet2D(1, 1, f_maps=4, num_levels=5, num_groups=2), (16, 16)),
        (TinyNet(), (1, 1, 1)),
        (TinyNet(spatial_dims=2), (1, 1)),
    ],
)
def test_network_min_window_is_the_product_of_the_pooling_strides(network, expected):
    assert network_min_window(network) == expected


@pytest.mark.parametrize(
    "roi, shape, minimum, expected",
    [
        ((80, 170, 170), (48, 128, 300), (16, 16, 16), (48, 128, 170)),  # clipped where the volume is smaller
        ((32, 64, 64), (8, 100, 100), (16, 16, 16), (16, 64, 64)),  # an axis below the minimum gets the minimum
        ((1, 256, 256), (7, 120, 300), (64, 64), (1, 120, 256)),  # 2D minimum, 3D roi: depth 1
        ((4, 4, 4), (100, 100, 100), (8, 8, 8), (8, 8, 8)),  # a roi below the minimum is raised to it
    ],
)
def test_fit_window(roi, shape, minimum, expected):
    assert fit_window(roi, shape, minimum) == expected


def test_fit_window_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="different dimensions"):
        fit_window((8, 8), (8, 8, 8))


def _groupnorm_unet():
    torch.manual_seed(0)
    return UNet3D(1, 1, f_maps=4, num_levels=3, num_groups=2).eval()


def test_a_thin_volume_is_predicted_as_with_a_window_of_its_own_size():
    """The window never extends beyond the volume, so GroupNorm never normalises over padding."""
    net = _groupnorm_unet()
    volume = torch.randn(1, 1, 12, 40, 40, generator=torch.Generator().manual_seed(1))
    fitted = FittedSlidingWindowInferer(roi_size=(32, 32, 32), overlap=0.25, mode="gaussian")
    with torch.no_grad():
        out = fitted(volume, net)
        own_size = SlidingWindowInferer(roi_size=(12, 32, 32), overlap=0.25, mode="gaussian")(volume, net)
        zero_padded = SlidingWindowInferer(roi_size=(32, 32, 32), overlap=0.25, mode="gaussian")(volume, net)
    torch.testing.assert_close(out, own_size, rtol=0, atol=1e-6)
    # MONAI's own inferer pads the 12-deep volume to 32 with zeros, which changes every GroupNorm statistic
    assert (out - zero_padded).abs().max() > 1e-2


def test_an_axis_below_the_network_minimum_is_padded_by_reflection_and_cropped_back(caplog):
    net = _groupnorm_unet()  # minimum window 4 x 4 x 4
    volume = torch.randn(1, 1, 3, 20, 20, generator=torch.Generator().manual_seed(2))
    fitted = FittedSlidingWindowInferer(roi_size=(16, 16, 16), overlap=0.25, mode="gaussian")
    with caplog.at_level(logging.INFO, logger="unet3d_monai.inference.inferer"), torch.no_grad():
        out = fitted(volume, net)
        reflected = F.pad(volume[0], (0, 0, 0, 0, 0, 1), mode="reflect")[None]  # z: 0 1 2 | 1
        expected = SlidingWindowInferer(roi_size=(4, 16, 16), overlap=0.25, mode="gaussian")(reflected, net)
    assert "padded by reflection" in caplog.text
    assert out.shape == volume.shape
    torch.testing.assert_close(out, expected[:, :, :3], rtol=0, atol=1e-6)


def test_a_single_slice_is_replicated_up_to_the_minimum():
    net = _groupnorm_unet()
    volume = torch.randn(1, 1, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = FittedSlidingWindowInferer(roi_size=(8, 8, 8), overlap=0.0)(volume, net)
        expected = SlidingWindowInferer(roi_size=(4, 8, 8), overlap=0.0)(volume.repeat(1, 1, 4, 1, 1), net)
    torch.testing.assert_close(out, expected[:, :, :1], rtol=0, atol=1e-6)


def test_predict_uses_the_fitted_window():
    net = _groupnorm_unet()
    volume = np.random.RandomState(4).randn(10, 36, 36).astype(np.float32)
    out = predict(net, volume, roi_size=(80, 170, 170), device="cpu")
    with torch.no_grad():
        logits = SlidingWindowInferer(roi_size=(10, 36, 36))(torch.from_numpy(volume)[None, None], net)
    np.testing.assert_allclose(out, torch.sigmoid(logits)[0].numpy(), atol=1e-6)
