import pickle
import warnings

import numpy as np
import pytest
import torch
from monai.data import DataLoader
from monai.transforms import Compose, RandFlipd, RandRotate90d
from monai.utils import set_determinism

from unet3d_monai.data import HDF5PatchDataset, Normalized, RandomHDF5PatchDataset, SmallVolumeWarning
from unet3d_monai.data.patches import (
    filter_block_shape,
    foreground_counts,
    grid_origins,
    select_patches,
    window_starts,
)

SHAPE = (10, 12, 14)
PATCH = (4, 5, 6)
STRIDE = (3, 4, 5)


@pytest.fixture
def volume(write_h5):
    rng = np.random.RandomState(0)
    raw = rng.normal(100.0, 20.0, size=SHAPE).astype(np.float32)
    label = (rng.rand(*SHAPE) > 0.5).astype(np.uint16) * rng.randint(1, 5, size=SHAPE).astype(np.uint16)
    weight = rng.rand(*SHAPE).astype(np.float32)
    path = write_h5("vol.h5", raw=raw, label=label, weight=weight, chunks=(3, 4, 5))
    return path, raw, label, weight


def test_window_starts_hand_checked():
    assert window_starts(10, 4, 3) == [0, 3, 6]  # 6 + 4 == 10: already flush
    assert window_starts(12, 5, 4) == [0, 4, 7]  # 4 + 5 < 12: flush window at 7 added
    assert window_starts(14, 6, 5) == [0, 5, 8]
    assert window_starts(6, 6, 1) == [0]
    assert window_starts(3, 6, 2) == [0]  # shorter than the patch: padded later


def test_enumeration_covers_every_voxel_as_expected(volume):
    path, raw, label, weight = volume
    ds = HDF5PatchDataset(path, PATCH, STRIDE, weight_key="weight")
    assert len(ds) == 27
    coverage = np.zeros(SHAPE, dtype=int)
    origins = []
    for i in range(len(ds)):
        item = ds[i]
        z, y, x = (int(v) for v in item["patch_origin"])
        origins.append((z, y, x))
        sl = np.s_[z : z + 4, y : y + 5, x : x + 6]
        coverage[sl] += 1
        assert item["image"].shape == (1, *PATCH) and item["image"].dtype == np.float32
        assert item["label"].shape == (1, *PATCH) and item["label"].dtype == np.float32
        np.testing.assert_array_equal(item["image"][0], raw[sl])
        np.testing.assert_array_equal(item["label"][0], label[sl].astype(np.float32))
        np.testing.assert_array_equal(item["weight"][0], weight[sl])
        assert item["patch_index"] == i and item["file_index"] == 0 and item["filename"] == str(path)
    assert origins == [(z, y, x) for z in (0, 3, 6) for y in (0, 4, 7) for x in (0, 5, 8)]
    # expected multiplicity per axis: z windows [0,4) [3,7) [6,10); y [0,5) [4,9) [7,12); x [0,6) [5,11) [8,14)
    cz = np.array([1, 1, 1, 2, 1, 1, 2, 1, 1, 1])
    cy = np.array([1, 1, 1, 1, 2, 1, 1, 2, 2, 1, 1, 1])
    cx = np.array([1, 1, 1, 1, 1, 2, 1, 1, 2, 2, 2, 1, 1, 1])
    np.testing.assert_array_equal(coverage, cz[:, None, None] * cy[None, :, None] * cx[None, None, :])


def test_default_stride_is_patch_and_multiple_files(write_h5):
    a = write_h5("d/a.h5", raw=np.zeros((4, 6, 6), np.float32))
    b = write_h5("d/b.h5", raw=np.ones((2, 6, 3), np.float32))
    ds = HDF5PatchDataset(a.parent, (2, 3, 3), label_key=None)
    assert len(ds) == 2 * 2 * 2 + 1 * 2 * 1
    assert ds[7]["filename"] == str(a) and ds[8]["filename"] == str(b)
    np.testing.assert_array_equal(ds[9]["patch_origin"], [0, 3, 0])
    assert "label" not in ds[0]
    assert ds[8]["image_stats"]["mean"] == 1.0 and ds[0]["image_stats"]["mean"] == 0.0


def test_multichannel_raw_and_label(write_h5):
    raw = np.arange(2 * 4 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 4)
    label = np.stack([np.zeros((4, 4, 4)), np.ones((4, 4, 4)), np.full((4, 4, 4), 2)]).astype(np.uint8)
    path = write_h5("mc.h5", raw=raw, label=label)
    ds = HDF5PatchDataset(path, (2, 2, 4))
    item = ds[3]  # origin (2, 2, 0)
    np.testing.assert_array_equal(item["patch_origin"], [2, 2, 0])
    np.testing.assert_array_equal(item["image"], raw[:, 2:4, 2:4, 0:4])
    assert item["label"].shape == (3, 2, 2, 4)
    np.testing.assert_array_equal(item["label"][:, 0, 0, 0], [0.0, 1.0, 2.0])


def test_2d_data(write_h5):
    raw = np.arange(8 * 10, dtype=np.float32).reshape(1, 8, 10)
    path = write_h5("flat.h5", raw=raw, label=(raw > 40).astype(np.uint8))
    ds2 = HDF5PatchDataset(path, (4, 5))
    assert len(ds2) == 4
    item = ds2[3]
    assert item["image"].shape == (1, 4, 5) and item["label"].shape == (1, 4, 5)
    np.testing.assert_array_equal(item["image"][0], raw[0, 4:8, 5:10])
    ds3 = HDF5PatchDataset(path, (1, 4, 5))
    assert ds3[3]["image"].shape == (1, 1, 4, 5)
    np.testing.assert_array_equal(ds3[3]["image"][0, 0], raw[0, 4:8, 5:10])
    plain = write_h5("yx.h5", raw=raw[0])
    assert HDF5PatchDataset(plain, (4, 5), label_key=None)[1]["image"].shape == (1, 4, 5)
    item = HDF5PatchDataset(plain, (1, 4, 5), label_key=None)[1]
    np.testing.assert_array_equal(item["image"][0, 0], raw[0, 0:4, 5:10])


@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_small_volume_is_padded_with_a_warning(write_h5, mode):
    raw = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    path = write_h5("small.h5", raw=raw, label=np.ones_like(raw, dtype=np.uint8))
    with pytest.warns(SmallVolumeWarning, match=r"small\.h5.*\(3, 4, 5\).*\(6, 4, 3\)"):
        ds = HDF5PatchDataset(path, (6, 4, 3), pad_mode=mode)
    assert len(ds) == 2  # x windows [0,3) and flush [2,5)
    expected = np.pad(raw[:, :, 2:5], [(0, 3), (0, 0), (0, 0)], mode=mode)
    np.testing.assert_array_equal(ds[1]["image"][0], expected)
    assert ds[1]["label"].shape == (1, 6, 4, 3)


def _brute_force_filter(label, patch, stride, threshold, slack, seed, ignore_index=None):
    """pytorch-3dunet's FilterSliceBuilder, re-implemented directly on the whole array."""
    rng = np.random.RandomState(seed)
    _, origins = grid_origins(label.shape, patch, stride)
    kept = []
    for i, o in enumerate(origins):
        p = label[tuple(slice(a, a + s) for a, s in zip(o, patch))].copy()
        if ignore_index is not None:
            p[p == ignore_index] = 0
        if np.count_nonzero(p) / p.size > threshold or rng.rand() < slack:
            kept.append(i)
    return kept


def test_filter_keeps_expected_patches(write_h5):
    label = np.zeros((8, 8, 8), np.uint8)
    label[:4, :4, :4] = 1  # patch (4,4,4) at origin 0 is all foreground
    label[4:, 4:, 4:6] = 3  # half of the last patch
    path = write_h5("f.h5", raw=np.zeros((8, 8, 8), np.float32), label=label)
    ds = HDF5PatchDataset(path, (4, 4, 4), threshold=0.4, slack_acceptance=0.0)
    assert [tuple(int(v) for v in ds[i]["patch_origin"]) for i in range(len(ds))] == [(0, 0, 0), (4, 4, 4)]
    ds = HDF5PatchDataset(path, (4, 4, 4), threshold=0.4, slack_acceptance=0.0, ignore_index=3)
    assert len(ds) == 1
    ds = HDF5PatchDataset(path, (4, 4, 4), threshold=0.5, slack_acceptance=0.0)  # 0.5 is not > 0.5
    assert len(ds) == 1


@pytest.mark.parametrize("block_bytes", [1, 700, 10**6])
def test_filter_matches_brute_force_with_slack(write_h5, block_bytes):
    rng = np.random.RandomState(5)
    label = (rng.rand(11, 13, 9) > 0.6).astype(np.int32) * rng.randint(0, 4, size=(11, 13, 9))
    path = write_h5("fb.h5", raw=np.zeros(label.shape, np.float32), label=label, chunks=(2, 5, 5))
    patch, stride = (4, 5, 3), (2, 3, 2)
    expected = _brute_force_filter(label, patch, stride, 0.33, 0.3, 47, ignore_index=2)
    assert 0 < len(expected) < len(grid_origins(label.shape, patch, stride)[1])
    ds = HDF5PatchDataset(
        path,
        patch,
        stride,
        threshold=0.33,
        slack_acceptance=0.3,
        ignore_index=2,
        max_block_bytes=block_bytes,
        compute_stats=False,
    )
    _, origins = grid_origins(label.shape, patch, stride)
    assert [tuple(int(v) for v in ds[i]["patch_origin"]) for i in range(len(ds))] == [origins[i] for i in expected]


@pytest.mark.parametrize("block_shape", [(2, 3), (1, 7), (9, 2)])
def test_foreground_counts_reads_blocks_only(block_shape):
    rng = np.random.RandomState(2)
    label = rng.randint(0, 3, size=(2, 9, 7, 8))  # two channels
    patch, stride = (3, 4, 5), (2, 2, 3)
    starts, origins = grid_origins(label.shape[1:], patch, stride)
    seen = np.zeros(label.shape[1:], dtype=int)

    def read_block(region):
        assert region[0].stop - region[0].start <= block_shape[0]
        assert region[1].stop - region[1].start <= block_shape[1]
        assert region[2] == slice(0, 8)
        seen[region] += 1
        return label[(slice(None), *region)]

    counts = foreground_counts(read_block, label.shape[1:], starts, patch, ignore_index=2, block_shape=block_shape)
    assert (seen == 1).all()  # every voxel read exactly once
    fg = (label != 0) & (label != 2)
    expected = [fg[:, z : z + 3, y : y + 4, x : x + 5].sum() for z, y, x in origins]
    np.testing.assert_array_equal(counts.ravel(), expected)
    kept = select_patches(counts, 2 * 3 * 4 * 5, 0.3, 0.0, 0)
    assert kept == [i for i, c in enumerate(expected) if c / 120 > 0.3]


def test_foreground_counts_2d():
    label = np.random.RandomState(3).randint(0, 2, size=(1, 11, 9))
    starts, origins = grid_origins((11, 9), (4, 4), (3, 2))
    counts = foreground_counts(lambda r: label[(slice(None), *r)], (11, 9), starts, (4, 4), block_shape=(2,))
    np.testing.assert_array_equal(counts.ravel(), [label[0, y : y + 4, x : x + 4].sum() for y, x in origins])


def test_filter_block_shape_is_chunk_aligned_within_budget():
    # whole 100 x 200 slices of 3 bytes fit 4 at a time, rounded down to the chunk depth 2
    assert filter_block_shape((50, 100, 200), (2, 10, 10), 3, 4 * 100 * 200 * 3 + 5) == (4, 100)
    # one chunk depth of whole slices is too big: bands of whole chunk rows
    assert filter_block_shape((50, 100, 200), (8, 10, 10), 3, 8 * 30 * 200 * 3) == (8, 30)
    # a single chunk row over budget still reads at least one chunk row
    assert filter_block_shape((50, 100, 200), (8, 10, 10), 3, 10) == (8, 10)
    assert filter_block_shape((50, 100, 200), None, 1, 1000) == (1, 5)
    assert filter_block_shape((11, 9), (4, 3), 2, 100) == (4,)


def test_dataloader_two_workers_yields_the_same_items(volume):
    path = volume[0]
    ds = HDF5PatchDataset(path, PATCH, STRIDE, transform=Normalized("image"))
    ds[0]  # opens a handle in this process before forking
    batches = {}
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=4, num_workers=workers, shuffle=False)
        batches[workers] = list(loader)
    assert len(batches[0]) == len(batches[2]) == 7
    for b0, b2 in zip(batches[0], batches[2]):
        assert torch.equal(torch.as_tensor(b0["image"]), torch.as_tensor(b2["image"]))
        assert torch.equal(b0["patch_index"], b2["patch_index"])
        assert b0["filename"] == b2["filename"]
    assert batches[0][0]["image"].shape == (4, 1, *PATCH)


def test_pickles_without_handles(volume):
    ds = HDF5PatchDataset(volume[0], PATCH, STRIDE)
    first = ds[0]["image"]
    assert ds._handles  # open after a read
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._handles == {}
    np.testing.assert_array_equal(clone[0]["image"], first)
    ds.close()
    assert ds._handles == {}


def test_items_normalised_with_whole_volume_stats(volume):
    path, raw = volume[0], volume[1]
    ds = HDF5PatchDataset(path, PATCH, STRIDE, transform=Normalized("image", mode="standardize"))
    item = ds[13]
    z, y, x = (int(v) for v in item["patch_origin"])
    r = raw.astype(np.float64)
    expected = (r[z : z + 4, y : y + 5, x : x + 6] - r.mean()) / r.std()
    np.testing.assert_allclose(np.asarray(item["image"][0]), expected, rtol=1e-5, atol=1e-5)


def test_random_patches_repeatable_and_in_bounds(volume):
    path = volume[0]
    keys = ["image", "label"]

    def run():
        t = Compose([RandFlipd(keys, prob=0.5, spatial_axis=0), RandRotate90d(keys, prob=0.5, spatial_axes=(1, 2))])
        ds = RandomHDF5PatchDataset(path, (4, 5, 5), num_samples=12, transform=t)
        return [ds[i] for i in range(len(ds))]

    a, b = run(), run()
    assert len(a) == 12
    origins = [tuple(int(v) for v in item["patch_origin"]) for item in a]
    assert origins == [tuple(int(v) for v in item["patch_origin"]) for item in b]
    assert len(set(origins)) > 6
    assert all(0 <= z <= 6 and 0 <= y <= 7 and 0 <= x <= 9 for z, y, x in origins)
    for x, y in zip(a, b):
        assert torch.equal(torch.as_tensor(x["image"]), torch.as_tensor(y["image"]))
    # image and label receive the same geometric transform
    raw, label = volume[1], volume[2]
    for item in a:
        z, y, x = (int(v) for v in item["patch_origin"])
        img, lab = np.asarray(item["image"][0]), np.asarray(item["label"][0])
        raw_patch, lab_patch = raw[z : z + 4, y : y + 5, x : x + 5], label[z : z + 4, y : y + 5, x : x + 5]
        idx = np.argmax(img)
        pos = np.unravel_index(idx, img.shape)
        value = img[pos]
        assert value in raw_patch
        src = np.argwhere(raw_patch == value)[0]
        assert lab[pos] == lab_patch[tuple(src)]


@pytest.mark.parametrize("workers", [0, 2])
def test_random_patches_with_monai_dataloader_and_set_determinism(volume, workers):
    path = volume[0]

    def run(seed):
        set_determinism(seed=seed)
        ds = RandomHDF5PatchDataset(path, (4, 5, 5), num_samples=8, transform=RandFlipd(["image"], prob=0.5))
        batches = list(DataLoader(ds, batch_size=2, num_workers=workers))
        set_determinism(seed=None)
        return torch.cat([b["patch_origin"] for b in batches]), torch.cat([b["image"] for b in batches])

    (o1, i1), (o2, i2), (o3, _) = run(3), run(3), run(4)
    assert o1.shape == (8, 3)
    assert torch.equal(o1, o2) and torch.equal(i1, i2)
    assert not torch.equal(o1, o3)


def test_random_patches_threshold(write_h5):
    label = np.zeros((6, 20, 20), np.uint8)
    label[:, :6, :6] = 1
    path = write_h5("t.h5", raw=np.zeros(label.shape, np.float32), label=label)
    ds = RandomHDF5PatchDataset(path, (6, 4, 4), num_samples=20, threshold=0.5, slack_acceptance=0.0, max_tries=500)
    for i in range(len(ds)):
        item = ds[i]
        assert item["label"].mean() > 0.5
        z, y, x = (int(v) for v in item["patch_origin"])
        assert y <= 3 and x <= 3


def test_random_dataset_draws_files_by_size(write_h5):
    write_h5("r/big.h5", raw=np.zeros((4, 40, 40), np.float32))
    write_h5("r/tiny.h5", raw=np.zeros((4, 4, 4), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = RandomHDF5PatchDataset(
            write_h5("r/big.h5", raw=np.zeros((4, 40, 40), np.float32)).parent,
            (4, 4, 4),
            num_samples=50,
            label_key=None,
        )
    np.testing.assert_allclose(ds.file_probabilities, [37 * 37 / (37 * 37 + 1), 1 / (37 * 37 + 1)])
    assert all(ds[i]["filename"].endswith("big.h5") for i in range(20))
