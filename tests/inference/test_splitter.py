import numpy as np
import pytest
import torch
from monai.data.utils import dense_patch_slices

from unet3d_monai.inference import ArrayVolume, FittedWindowSplitter, VolumeBlock
from unet3d_monai.inference.splitter import window_starts


def test_window_starts_are_monais_sliding_window_grid():
    # scan interval int(roi * (1 - overlap)) and the last window shifted back to the end, as MONAI places them
    for size, window, overlap in [(21, 8, 0.5), (30, 12, 0.25), (26, 10, 0.0), (9, 9, 0.5), (100, 7, 0.9)]:
        interval = window if window == size else max(int(window * (1 - overlap)), 1)
        expected = sorted({s[0].start for s in dense_patch_slices((size,), (window,), (interval,))})
        assert window_starts(size, window, overlap) == expected
    assert window_starts(21, 8, 0.5) == [0, 4, 8, 12, 13]
    assert window_starts(5, 8, 0.25) == [0]  # a window longer than the axis: one, padded


def test_splitter_yields_every_window_of_the_grid_with_its_location():
    volume = torch.arange(21 * 30 * 26, dtype=torch.float32).reshape(1, 1, 21, 30, 26)
    splitter = FittedWindowSplitter((8, 12, 10), overlap=0.5)
    pairs = list(splitter(volume))
    expected = dense_patch_slices((21, 30, 26), (8, 12, 10), (4, 6, 5))
    assert [loc for _, loc in pairs] == [tuple(s.start for s in w) for w in expected]
    for (patch, _), window in zip(pairs, expected):
        assert torch.equal(patch, volume[(slice(None), slice(None), *window)])


def test_window_is_fitted_to_the_volume_and_short_axes_reflected():
    splitter = FittedWindowSplitter((16, 64, 64), overlap=0.25, min_window=(4, 4, 4))
    assert splitter.window_for((40, 30, 100)) == (16, 30, 64)
    assert splitter.window_for((2, 30, 100)) == (4, 30, 64)
    volume = torch.arange(2 * 5 * 6, dtype=torch.float32).reshape(1, 1, 2, 5, 6)
    (patch, location), *_ = FittedWindowSplitter((4, 5, 6), min_window=(4, 1, 1))(volume)
    assert location == (0, 0, 0) and patch.shape == (1, 1, 4, 5, 6)
    # two slices reflected at the end: 0 1 | 0 then edge replication
    assert torch.equal(patch[0, 0, 2], volume[0, 0, 0])


def test_a_block_yields_the_windows_it_owns_read_from_disk():
    data = np.random.RandomState(0).randn(1, 21, 30, 26).astype(np.float32)
    reads = []

    class Recording(ArrayVolume):
        def read(self, region):
            reads.append(region)
            return super().read(region)

    splitter = FittedWindowSplitter((8, 12, 10), overlap=0.5)
    block = (slice(7, 14), slice(0, 30), slice(10, 20))
    pairs = list(splitter(VolumeBlock(Recording(data), block)))
    # starts z 0 4 8 12 13, y 0 6 12 18, x 0 5 10 15 16; owned: z in {8, 12, 13}, every y, x in {10, 15, 16}
    assert [loc for _, loc in pairs][:4] == [(8, 0, 10), (8, 0, 15), (8, 0, 16), (8, 6, 10)]
    assert len(pairs) == 3 * 4 * 3
    # one read: the halo the owned windows cover
    assert reads == [(slice(8, 21), slice(0, 30), slice(10, 26))]
    for patch, loc in pairs:
        window = tuple(slice(p, p + w) for p, w in zip(loc, (8, 12, 10)))
        np.testing.assert_array_equal(patch[0].numpy(), data[(slice(None), *window)])
    assert splitter.halo_region((21, 30, 26), (slice(14, 21), slice(0, 30), slice(0, 26))) is None


def test_overlap_must_be_a_fraction():
    with pytest.raises(ValueError, match="overlap"):
        FittedWindowSplitter((8, 8, 8), overlap=1.0)
