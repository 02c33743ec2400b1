import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from unet3d_monai.metrics import MSE, PSNR


def test_psnr_hand_computed():
    # mse 0.01 with data range 1: 10 * log10(1 / 0.01) = 20 dB
    assert PSNR(data_range=1.0)(y_pred=torch.full((1, 1, 2, 2), 0.1), y=torch.zeros(1, 1, 2, 2)).item() == 20.0
    # data range from the target: max - min = 2, mse 0.04 -> 10 * log10(4 / 0.04) = 20 dB
    y = torch.tensor([0.0, 2.0, 0.0, 2.0]).view(1, 1, 2, 2)
    assert PSNR()(y_pred=y + 0.2, y=y).item() == pytest.approx(20.0)


def test_psnr_equals_skimage_per_item():
    rng = np.random.RandomState(0)
    y = rng.normal(3.0, 2.0, size=(2, 1, 6, 7, 8))
    y_pred = y + rng.normal(0, 0.3, size=y.shape)
    metric = PSNR()
    values = metric(y_pred=torch.from_numpy(y_pred).float(), y=torch.from_numpy(y).float())
    expected = [peak_signal_noise_ratio(y[b], y_pred[b], data_range=y[b].max() - y[b].min()) for b in range(2)]
    assert values[:, 0].tolist() == pytest.approx(expected, abs=1e-3)
    assert metric.aggregate().item() == pytest.approx(np.mean(expected), abs=1e-3)
    fixed = PSNR(data_range=10.0)(y_pred=torch.from_numpy(y_pred), y=torch.from_numpy(y))
    assert fixed[0].item() == pytest.approx(peak_signal_noise_ratio(y[0], y_pred[0], data_range=10.0), abs=1e-4)


def test_psnr_edge_cases():
    assert math.isnan(PSNR()(y_pred=torch.ones(1, 1, 2, 2), y=torch.zeros(1, 1, 2, 2)).item())
    assert PSNR(data_range=1.0)(y_pred=torch.ones(1, 1, 2, 2), y=torch.ones(1, 1, 2, 2)).item() == math.inf
    with pytest.raises(ValueError, match="data_range"):
        PSNR(data_range=0)
    with pytest.raises(ValueError, match="shapes"):
        PSNR()(y_pred=torch.ones(1, 1, 2, 2), y=torch.ones(1, 1, 2, 3))
    assert PSNR.higher_is_better is True


def test_mse_equals_numpy():
    rng = np.random.RandomState(1)
    y = rng.normal(size=(3, 2, 4, 5))
    y_pred = rng.normal(size=(3, 2, 4, 5))
    metric = MSE()
    values = metric(y_pred=torch.from_numpy(y_pred), y=torch.from_numpy(y))
    expected = ((y - y_pred) ** 2).reshape(3, -1).mean(axis=1)
    assert values[:, 0].tolist() == pytest.approx(expected.tolist())
    assert metric.aggregate().item() == pytest.approx(expected.mean())
    assert MSE.higher_is_better is False
