"""Region-by-region trilinear resampling against MONAI's Resize of the whole volume."""

import pickle

import h5py
import numpy as np
import pytest
import torch
from monai.transforms import Resize

from unet3d_monai.inference import ArrayVolume
from unet3d_monai.inference.on_disk import VolumeOnDisk
from unet3d_monai.inference.resampled_volume import (
    ResampledVolume,
    linear_taps,
    resample_region,
    source_region,
)


def _resize(volume, shape):
    return Resize(spatial_size=list(shape), mode="trilinear", anti_aliasing=False)(torch.as_tensor(volume)).numpy()


@pytest.fixture
def volume():
    return np.random.RandomState(4).randn(2, 9, 14, 11).astype(np.float32)


def test_linear_taps_by_hand():
    # 4 voxels to 6: positions (j + 0.5) * 4 / 6 - 0.5 = -1/6 (clamped to 0), 1/2, 7/6, 11/6, 5/2, 19/6
    low, high, weight = linear_taps(0, 6, 4, 6)
    assert low.tolist() == [0, 0, 1, 1, 2, 3]
    assert high.tolist() == [1, 1, 2, 2, 3, 3]
    np.testing.assert_allclose(weight, [0.0, 0.5, 1 / 6, 5 / 6, 0.5, 1 / 6], atol=1e-6)
    # the same grid: every voxel reads itself
    low, high, weight = linear_taps(3, 7, 10, 10)
    assert low.tolist() == [3, 4, 5, 6] and weight.tolist() == [0.0] * 4


def test_source_region_holds_the_voxels_read():
    # 10 voxels to 20: output 5..8 reads 2.25 .. 3.75, i.e. voxels 2..4
    assert source_region((slice(5, 9),), (10,), (20,)) == (slice(2, 5),)
    # 20 voxels to 7: output 0 reads 20/7 * 0.5 - 0.5 = 0.93, voxels 0..1; output 6 reads 18.07, voxels 18..19
    assert source_region((slice(0, 7),), (20,), (7,)) == (slice(0, 20),)
    assert source_region((slice(6, 7),), (20,), (7,)) == (slice(18, 20),)


@pytest.mark.parametrize("shape", [(18, 28, 22), (5, 7, 6), (13, 14, 4), (9, 14, 11)])
def test_every_region_equals_the_same_region_of_the_whole_volume_resized(volume, shape):
    whole = _resize(volume, shape)
    resampled = ResampledVolume(ArrayVolume(volume), shape)
    assert resampled.shape == (2, *shape)
    rng = np.random.RandomState(0)
    for _ in range(12):
        starts = [int(rng.randint(0, s)) for s in shape]
        region = tuple(slice(a, int(rng.randint(a + 1, s + 1))) for a, s in zip(starts, shape))
        np.testing.assert_allclose(resampled.read(region), whole[(slice(None), *region)], rtol=0, atol=2e-6)
    # the whole volume in one read, and tiles that cover it
    np.testing.assert_allclose(resampled.read(tuple(slice(0, s) for s in shape)), whole, rtol=0, atol=2e-6)
    tiles = np.zeros_like(whole)
    for z in range(0, shape[0], 4):
        for y in range(0, shape[1], 5):
            region = (slice(z, min(z + 4, shape[0])), slice(y, min(y + 5, shape[1])), slice(0, shape[2]))
            tiles[(slice(None), *region)] = resampled.read(region)
    np.testing.assert_allclose(tiles, whole, rtol=0, atol=2e-6)


def test_a_region_without_the_voxels_it_reads_is_refused(volume):
    data = torch.from_numpy(volume[:, :3])
    with pytest.raises(ValueError, match="does not hold the input"):
        resample_region(data, (slice(0, 3), slice(0, 14), slice(0, 11)), (slice(0, 8),) * 3, (9, 14, 11), (18, 8, 8))
    with pytest.raises(ValueError, match="must hold 3 positive sizes"):
        ResampledVolume(ArrayVolume(volume), (4, 4))


def test_resampled_file_travels_to_tasks_and_opens_on_the_models_grid(volume, tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["raw"] = volume[0]
    shared = pickle.loads(pickle.dumps(VolumeOnDisk.of_file(tmp_path / "a.h5", "raw").on_grid((18, 7, 22))))
    with shared.open() as opened:
        assert opened.shape == (1, 18, 7, 22)
        region = (slice(3, 9), slice(0, 7), slice(10, 21))
        np.testing.assert_allclose(
            opened.read(region), _resize(volume[:1], (18, 7, 22))[(slice(None), *region)], rtol=0, atol=2e-6
        )
