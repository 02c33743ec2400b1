import warnings

import numpy as np
import pytest
import torch

from unet3d_monai.data.stats import (
    NonFiniteWarning,
    VolumeStats,
    clear_stats_cache,
    compute_volume_stats,
    count_nonfinite,
    iter_blocks,
)


def test_iter_blocks_cover_every_element_once():
    shape = (13, 10, 7)
    seen = np.zeros(shape, dtype=int)
    blocks = list(iter_blocks(shape, chunks=(4, 3, 7), itemsize=4, max_bytes=4 * 4 * 6 * 7))
    for sl in blocks:
        seen[sl] += 1
    assert (seen == 1).all()
    # budget of 168 elements: whole last axis (7), two chunk rows on y (6), z stays one chunk (4)
    assert blocks[0] == (slice(0, 4), slice(0, 6), slice(0, 7))
    assert len(blocks) == 4 * 2


def test_iter_blocks_contiguous_uses_whole_rows():
    blocks = list(iter_blocks((5, 6), chunks=None, itemsize=8, max_bytes=8 * 13))
    assert blocks == [(slice(0, 2), slice(0, 6)), (slice(2, 4), slice(0, 6)), (slice(4, 5), slice(0, 6))]


@pytest.mark.parametrize("dtype", [np.float32, np.uint16, np.int16, np.uint8])
def test_compute_volume_stats_matches_numpy(write_h5, dtype):
    rng = np.random.RandomState(0)
    raw = rng.gamma(2.0, 40.0, size=(9, 23, 17)) + 3
    if dtype == np.int16:
        raw = raw - 100
    lo = -200 if dtype == np.int16 else 0
    raw = raw.astype(dtype) if np.dtype(dtype).kind == "f" else np.clip(raw, lo, 250).astype(dtype)
    path = write_h5("v.h5", raw=raw, chunks=(4, 8, 8))
    s = compute_volume_stats(path, "raw", max_block_bytes=512)  # many tiny blocks
    ref = raw.astype(np.float64)
    assert s.mean == pytest.approx(ref.mean(), rel=1e-12)
    assert s.std == pytest.approx(ref.std(), rel=1e-10)
    assert (s.min, s.max) == (ref.min(), ref.max())
    p1, p996 = np.percentile(ref, (1.0, 99.6))
    if np.dtype(dtype).kind == "f":
        tol = (ref.max() - ref.min()) / 2**20
        assert abs(s.p_low - p1) <= tol and abs(s.p_high - p996) <= tol
    else:  # integer data: one bin per value, exact
        assert (s.p_low, s.p_high) == (p1, p996)
    assert (s.q_low, s.q_high, s.nonfinite) == (1.0, 99.6, 0)


def test_compute_volume_stats_other_percentiles_and_cache(write_h5):
    raw = np.arange(1000, dtype=np.int32).reshape(10, 10, 10)
    path = write_h5("v.h5", raw=raw)
    clear_stats_cache()
    s = compute_volume_stats(path, "raw", percentiles=(5, 95))
    assert (s.p_low, s.p_high) == (49.95, 949.05)  # numpy linear: 0.05 * 999 and 0.95 * 999
    assert compute_volume_stats(path, "raw", percentiles=(5, 95)) is s
    assert compute_volume_stats(path, "raw") is not s


def test_cache_invalidated_when_file_changes(write_h5):
    path = write_h5("v.h5", raw=np.zeros((2, 3, 4), np.float32))
    assert compute_volume_stats(path, "raw").max == 0.0
    import os

    write_h5("v.h5", raw=np.full((2, 3, 5), 7.0, np.float32))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    s = compute_volume_stats(path, "raw")
    assert (s.min, s.max, s.std, s.p_low, s.p_high) == (7.0, 7.0, 0.0, 7.0, 7.0)


def test_nonfinite_values_are_excluded_with_a_warning(write_h5):
    raw = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    raw[0, 0, 0] = np.nan
    raw[1, 2, 3] = np.inf
    path = write_h5("bad.h5", raw=raw)
    with pytest.warns(NonFiniteWarning, match=r"bad\.h5.*'raw'.*2 NaN/Inf"):
        s = compute_volume_stats(path, "raw")
    finite = np.arange(1, 23, dtype=np.float64)
    assert s.nonfinite == 2
    assert s.mean == pytest.approx(finite.mean())
    assert s.std == pytest.approx(finite.std())
    assert (s.min, s.max) == (1.0, 22.0)


def test_from_array_numpy_and_torch_agree():
    rng = np.random.RandomState(1)
    a = rng.normal(5.0, 2.0, size=(1, 6, 7, 8)).astype(np.float32)
    s_np = VolumeStats.from_array(a)
    s_t = VolumeStats.from_array(torch.from_numpy(a))
    assert s_np == s_t
    assert s_np.mean == pytest.approx(a.astype(np.float64).mean())
    assert s_np.p_high == pytest.approx(np.percentile(a.astype(np.float64), 99.6))


def test_dict_round_trip_and_collated_values():
    s = VolumeStats(mean=1.0, std=2.0, min=-1.0, max=9.0, p_low=0.0, p_high=8.0)
    d = s.to_dict()
    assert d == {
        "mean": 1.0,
        "std": 2.0,
        "min": -1.0,
        "max": 9.0,
        "p_low": 0.0,
        "p_high": 8.0,
        "q_low": 1.0,
        "q_high": 99.6,
        "nonfinite": 0,
    }
    assert VolumeStats.from_dict(d) == s
    collated = {k: torch.tensor([v], dtype=torch.float64) for k, v in d.items()}
    assert VolumeStats.from_dict(collated) == s
    batched = {k: torch.tensor([v, v]) for k, v in d.items()}
    with pytest.raises(ValueError, match="'mean' holds 2 values"):
        VolumeStats.from_dict(batched)
    with pytest.raises(KeyError, match="missing: std"):
        VolumeStats.from_dict({"mean": 0, "min": 0, "max": 1, "p_low": 0, "p_high": 1})


def test_no_warning_on_clean_data(write_h5):
    path = write_h5("clean.h5", raw=np.ones((2, 2, 2), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_volume_stats(path, "raw")


@pytest.mark.parametrize("dtype", [np.int8, np.bool_])
def test_one_pass_small_integer_stats(write_h5, dtype):
    rng = np.random.RandomState(4)
    raw = (rng.randint(-50, 60, size=(5, 6, 7)) if dtype == np.int8 else rng.rand(5, 6, 7) > 0.7).astype(dtype)
    s = compute_volume_stats(write_h5("s.h5", raw=raw), "raw", percentiles=(10, 90))
    ref = raw.astype(np.float64)
    assert s.mean == pytest.approx(ref.mean(), rel=1e-12) and s.std == pytest.approx(ref.std(), rel=1e-12)
    assert (s.min, s.max) == (ref.min(), ref.max())
    assert (s.p_low, s.p_high) == tuple(np.percentile(ref, (10, 90)))


def test_count_nonfinite_reads_block_by_block(write_h5):
    raw = np.zeros((9, 10, 11), np.float32)
    raw[0, 0, 0], raw[4, 9, 3], raw[8, 9, 10] = np.nan, np.inf, -np.inf
    path = write_h5("v.h5", chunks=(2, 5, 11), raw=raw, label=np.ones((9, 10, 11), np.uint8))
    assert count_nonfinite(path, "raw", max_block_bytes=4 * 2 * 5 * 11) == 3  # 25 blocks of one chunk
    assert count_nonfinite(path, "raw") == 3
    assert count_nonfinite(path, "label") == 0
