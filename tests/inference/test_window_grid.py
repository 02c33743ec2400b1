import numpy as np
import torch
from monai.data.utils import compute_importance_map, dense_patch_slices

from unet3d_monai.inference import WindowGrid


def test_windows_are_monais_dense_patch_slices():
    grid = WindowGrid((21, 30, 26), (8, 12, 10), overlap=0.5)
    # scan interval int(roi * 0.5) = (4, 6, 5), MONAI's grid
    assert grid.windows == dense_patch_slices((21, 30, 26), (8, 12, 10), (4, 6, 5))
    assert not grid.is_padded
    # first axis starts: 0, 4, 8, 12 and the last shifted back to 21 - 8 = 13
    assert sorted({w[0].start for w in grid.windows}) == [0, 4, 8, 12, 13]


def test_padded_grid_is_in_unpadded_coordinates():
    grid = WindowGrid((5, 20, 20), (8, 16, 16), overlap=0.25)
    assert grid.is_padded and grid.pad_before == (1, 0, 0)
    assert {(w[0].start, w[0].stop) for w in grid.windows} == {(-1, 7)}


def test_weight_sum_is_the_sum_of_importance_maps():
    grid = WindowGrid((10, 12, 9), (6, 8, 5), overlap=0.5)
    weights = compute_importance_map((6, 8, 5), mode="gaussian", sigma_scale=0.125)
    expected = torch.zeros(10, 12, 9)
    for window in grid.windows:
        expected[window] += weights
    region = (slice(2, 9), slice(0, 12), slice(3, 7))
    np.testing.assert_allclose(grid.weight_sum(region), expected[region].numpy(), rtol=1e-6)
    np.testing.assert_allclose(grid.importance_map.numpy(), weights.numpy())


def test_windows_starting_in_partitions_the_windows():
    grid = WindowGrid((17, 19, 23), (5, 6, 7), overlap=0.25)
    blocks = [
        (slice(z, z + 6), slice(y, y + 7), slice(x, x + 9))
        for z in range(0, 17, 6)
        for y in range(0, 19, 7)
        for x in range(0, 23, 9)
    ]
    owned = sorted(i for block in blocks for i in grid.windows_starting_in(block))
    assert owned == list(range(len(grid.windows)))
