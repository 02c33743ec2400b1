import h5py
import numpy as np
import pytest
import torch

from tests.inference._networks import TinyNet
from unet3d_monai.inference import (
    ArrayVolume,
    BlockwiseInference,
    WindowGrid,
    default_block_shape,
    fit_window,
    network_min_window,
    predict,
)
from unet3d_monai.inference.sliding_window import prepare_window_predictor


class Interrupted(RuntimeError):
    pass


class CountingPredictor:
    """Wraps a window predictor; counts windows and raises after ``stop_after`` calls."""

    def __init__(self, predictor, stop_after=None):
        self.predictor, self.stop_after, self.calls, self.windows = predictor, stop_after, 0, 0

    def __call__(self, windows):
        if self.stop_after is not None and self.calls >= self.stop_after:
            raise Interrupted("stopped")
        self.calls += 1
        self.windows += windows.shape[0]
        return self.predictor(windows)


def _run(engine, volume, out_channels):
    out = np.full((out_channels, *volume.shape[1:]), np.nan, dtype=np.float32)

    def write(region, block):
        out[(slice(None), *region)] = block

    with torch.inference_mode():
        engine.run(ArrayVolume(volume), write)
    return out


@pytest.fixture
def case():
    net = TinyNet(out_channels=2, activation="softmax", seed=3)
    volume = np.random.RandomState(7).randn(1, 23, 31, 29).astype(np.float32)
    roi, overlap = (8, 10, 12), 0.5
    expected = predict(net, volume, roi, overlap=overlap, sw_batch_size=2, device="cpu")
    predictor, _ = prepare_window_predictor(net, "cpu")
    return volume, roi, overlap, expected, predictor


def test_blockwise_equals_in_memory(case, tmp_path):
    volume, roi, overlap, expected, predictor = case
    grid = WindowGrid(volume.shape[1:], roi, overlap)
    engine = BlockwiseInference(predictor, grid, tmp_path / "acc.h5", block_shape=(7, 9, 11), sw_batch_size=2)
    out = _run(engine, volume, 2)
    assert len(engine._blocks((7, 9, 11))) == 4 * 4 * 3
    np.testing.assert_allclose(out, expected, atol=1e-5)
    engine.cleanup()
    assert not (tmp_path / "acc.h5").exists()


def test_blockwise_equals_in_memory_when_the_roi_is_larger_than_the_volume(tmp_path):
    net = TinyNet(seed=1)
    volume = np.random.RandomState(2).randn(1, 6, 25, 17).astype(np.float32)
    roi = (10, 8, 20)
    expected = predict(net, volume, roi, overlap=0.25, device="cpu")
    window = fit_window(roi, volume.shape[1:], network_min_window(net))
    assert window == (6, 8, 17)
    predictor, _ = prepare_window_predictor(net, "cpu")
    grid = WindowGrid((6, 25, 17), window, 0.25)
    engine = BlockwiseInference(predictor, grid, tmp_path / "a.h5", block_shape=(4, 7, 5))
    np.testing.assert_allclose(_run(engine, volume, 1), expected, atol=1e-5)


def test_interrupted_run_resumes_from_the_blocks_written(case, tmp_path):
    volume, roi, overlap, expected, predictor = case
    grid = WindowGrid(volume.shape[1:], roi, overlap)
    path = tmp_path / "acc.h5"
    first = CountingPredictor(predictor, stop_after=20)
    with pytest.raises(Interrupted):
        _run(BlockwiseInference(first, grid, path, block_shape=(7, 9, 11)), volume, 2)
    with h5py.File(path, "r") as f:
        done = int(f["done"][()].sum())
    assert 0 < done < 48
    second = CountingPredictor(predictor)
    out = _run(BlockwiseInference(second, grid, path, block_shape=(7, 9, 11), resume=True), volume, 2)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # windows of finished blocks were not predicted again
    assert second.windows < len(grid.windows)
    assert second.windows + first.windows >= len(grid.windows)


def test_interrupted_accumulator_update_is_rolled_back(case, tmp_path):
    volume, roi, overlap, expected, predictor = case
    grid = WindowGrid(volume.shape[1:], roi, overlap)
    path = tmp_path / "acc.h5"

    class CrashDuringUpdate(BlockwiseInference):
        updates = 0

        @staticmethod
        def _add(handle, index, region, contribution):
            CrashDuringUpdate.updates += 1
            if CrashDuringUpdate.updates == 5:
                # journal written and the accumulator updated, but the block never marked done
                journal = handle["journal"]
                journal[(slice(None), *(slice(0, r.stop - r.start) for r in region))] = handle["accumulated"][
                    (slice(None), *region)
                ]
                journal.attrs["region"] = np.array([[r.start, r.stop] for r in region])
                journal.attrs["block"] = index
                handle["accumulated"][(slice(None), *region)] += contribution
                raise Interrupted("crash in the middle of an update")
            BlockwiseInference._add(handle, index, region, contribution)

    with pytest.raises(Interrupted):
        _run(CrashDuringUpdate(predictor, grid, path, block_shape=(7, 9, 11)), volume, 2)
    out = _run(BlockwiseInference(predictor, grid, path, block_shape=(7, 9, 11), resume=True), volume, 2)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_resume_with_other_settings_is_refused(case, tmp_path):
    volume, roi, overlap, _, predictor = case
    grid = WindowGrid(volume.shape[1:], roi, overlap)
    path = tmp_path / "acc.h5"
    with pytest.raises(Interrupted):
        _run(
            BlockwiseInference(CountingPredictor(predictor, 20), grid, path, (7, 9, 11), fingerprint={"a": 1}),
            volume,
            2,
        )
    with pytest.raises(ValueError, match="different settings"):
        _run(BlockwiseInference(predictor, grid, path, (7, 9, 11), fingerprint={"a": 2}, resume=True), volume, 2)


def test_default_block_shape_halves_the_longest_axis_until_it_fits():
    # halving 512 -> 256 -> 128 on every axis: (128 + 64)^3 voxels * 4 channels * 4 bytes = 113 MB > 64 MB;
    # (64 + 64) * 192^2 * 16 = 75 MB > 64 MB; (64 + 64)^2 * 192 * 16 = 50 MB fits
    assert default_block_shape((512, 512, 512), (64, 64, 64), channels=4, memory_bytes=64 * 2**20) == (64, 64, 128)
    assert default_block_shape((100, 100, 100), (64, 64, 64), channels=4) == (100, 100, 100)
    assert default_block_shape((512, 512, 512), (64, 64, 64), channels=4, memory_bytes=1) == (64, 64, 64)


def test_blockwise_2d_network_with_tta_equals_in_memory(tmp_path):
    net = TinyNet(spatial_dims=2, seed=4)
    volume = np.random.RandomState(5).randn(1, 5, 27, 22).astype(np.float32)
    expected = predict(net, volume, (13, 10), overlap=0.5, tta=True, device="cpu")
    predictor, _ = prepare_window_predictor(net, "cpu", tta=True)
    grid = WindowGrid(volume.shape[1:], (1, 13, 10), overlap=(0.0, 0.5, 0.5))
    engine = BlockwiseInference(predictor, grid, tmp_path / "acc.h5", block_shape=(2, 8, 9), sw_batch_size=4)
    np.testing.assert_allclose(_run(engine, volume, 1), expected, atol=1e-5)
