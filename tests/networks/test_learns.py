"""A small network really learns: a few dozen Adam steps on a tiny texture problem lower the loss and beat the
no-learning baseline (smoothed raw thresholded with Otsu) on an image it never saw."""

import numpy as np
import torch
from scipy import ndimage
from skimage.filters import threshold_otsu

from unet3d_monai.losses import BCEDiceLoss
from unet3d_monai.networks import UNet2D


def _texture_image(seed: int, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Disks of strong noise on weak noise of the same mean: intensity alone cannot tell them apart."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    mask = np.zeros((size, size), bool)
    for _ in range(3):
        cy, cx, r = rng.uniform(8, size - 8), rng.uniform(8, size - 8), rng.uniform(5, 9)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    raw = rng.normal(0.0, np.where(mask, 1.0, 0.25)).astype(np.float32)
    return raw, mask


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def test_unet_learns_a_texture_segmentation_that_thresholding_cannot():
    torch.manual_seed(0)
    network = UNet2D(1, 1, f_maps=[8, 16], layer_order="gcr", num_groups=4)
    loss_fn = BCEDiceLoss(alpha=1.0, beta=1.0)
    optimizer = torch.optim.Adam(network.parameters(), lr=5e-3)
    images = [_texture_image(seed) for seed in range(8)]
    losses = []
    for step in range(30):
        raw, mask = images[step % len(images)]
        x = torch.from_numpy(raw)[None, None]
        y = torch.from_numpy(mask.astype(np.float32))[None, None]
        optimizer.zero_grad()
        loss = loss_fn(network(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])

    raw, mask = _texture_image(seed=100)
    network.eval()
    with torch.no_grad():
        probabilities = network.final_activation(network(torch.from_numpy(raw)[None, None]))[0, 0].numpy()
    learned = _dice(probabilities > 0.5, mask)
    smoothed = ndimage.gaussian_filter(raw, 2.0)
    otsu = smoothed > threshold_otsu(smoothed)
    baseline = max(_dice(otsu, mask), _dice(~otsu, mask))
    assert baseline < 0.5
    assert learned > 0.8 and learned > baseline + 0.3
