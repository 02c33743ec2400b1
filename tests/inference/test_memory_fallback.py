import logging

import numpy as np
import pytest
import torch

from unet3d_monai.inference import VolumePredictor
from unet3d_monai.inference.inferer import FittedSlidingWindowInferer
from unet3d_monai.inference.memory_fallback import OutOfMemoryFallback
from unet3d_monai.inference.window_predictor import WindowPredictor
from unet3d_monai.networks import UNet3D


def _network():
    torch.manual_seed(0)
    return UNet3D(1, 1, f_maps=[4, 8], num_groups=2).eval()


class Limited:
    """A window predictor that runs out of memory (simulated) above ``max_windows`` windows or ``max_voxels``
    voxels per window, counting the calls that failed."""

    def __init__(self, predictor, max_windows, max_voxels=None):
        self.predictor, self.max_windows, self.max_voxels = predictor, max_windows, max_voxels
        self.network = predictor.network
        self.failures = 0

    def __call__(self, windows):
        if windows.shape[0] > self.max_windows or (self.max_voxels and windows[0, 0].numel() > self.max_voxels):
            self.failures += 1
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.predictor(windows)


def _predict(predictor, volume, sw_batch_size):
    inferer = FittedSlidingWindowInferer((8, 16, 16), sw_batch_size=sw_batch_size, overlap=0.25, mode="gaussian")
    with torch.inference_mode():
        return inferer(volume, predictor)


def test_halving_the_window_batch_gives_the_ample_result(caplog):
    volume = torch.rand(1, 1, 12, 40, 40, generator=torch.Generator().manual_seed(1))
    ample = _predict(WindowPredictor(_network()), volume, sw_batch_size=8)
    limited = Limited(WindowPredictor(_network()), max_windows=2)
    fallback = OutOfMemoryFallback(limited, min_window=(2, 2, 2))
    with caplog.at_level(logging.WARNING, logger="unet3d_monai"):
        result = _predict(fallback, volume, sw_batch_size=8)
    torch.testing.assert_close(result, ample, rtol=1e-5, atol=1e-6)
    assert fallback.max_batch == 2
    # the first batch of 8 failed, then 4: two failures, then every batch went through in pairs
    assert limited.failures == 2
    assert [r.getMessage() for r in caplog.records] == [
        "Out of memory: predicting 4 windows at a time from now on.",
        "Out of memory: predicting 2 windows at a time from now on.",
    ]


def test_a_window_too_large_for_memory_is_predicted_in_sub_windows(caplog):
    volume = torch.rand(1, 1, 12, 40, 40, generator=torch.Generator().manual_seed(1))
    limited = Limited(WindowPredictor(_network()), max_windows=1, max_voxels=8 * 16 * 8)
    fallback = OutOfMemoryFallback(limited, min_window=(2, 2, 2))
    with caplog.at_level(logging.WARNING, logger="unet3d_monai"):
        result = _predict(fallback, volume, sw_batch_size=1)
    # the longest axes (y and x, 16) are halved
    assert fallback.window == (8, 8, 8) and fallback.max_batch is None
    assert result.shape == (1, 1, 12, 40, 40) and torch.isfinite(result).all()
    assert 0 <= result.min() and result.max() <= 1
    assert limited.failures == 1
    message = "Out of memory: predicting each window in sub-windows of [8, 8, 8] from now on."
    assert [r.getMessage() for r in caplog.records] == [message]


def test_other_errors_pass_through():
    def broken(windows):
        raise ValueError("not a memory problem")

    with pytest.raises(ValueError, match="not a memory problem"):
        OutOfMemoryFallback(broken)(torch.zeros(2, 1, 4, 4, 4))


def test_volume_predictor_wraps_its_windows_in_the_fallback(tmp_path):
    predictor = VolumePredictor(_network(), FittedSlidingWindowInferer(roi_size=(8, 16, 16)), tmp_path, progress=False)
    assert isinstance(predictor.window_predictor, OutOfMemoryFallback)
    assert np.array_equal(predictor.window_predictor.min_window, (2, 2, 2))
