import numpy as np
import pytest
import torch

from tests.inference._networks import TinyNet
from unet3d_monai.inference import (
    ArrayVolume,
    BlockPlan,
    BlockwisePrediction,
    FittedWindowSplitter,
    default_block_shape,
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
        assert np.isnan(out[(slice(None), *region)]).all()  # every block written once
        out[(slice(None), *region)] = block

    report = engine.run(ArrayVolume(volume), write, out_channels)
    return out, report


@pytest.fixture
def case():
    net = TinyNet(out_channels=2, activation="softmax", seed=3)
    volume = np.random.RandomState(7).randn(1, 23, 31, 29).astype(np.float32)
    roi, overlap = (8, 10, 12), 0.5
    expected = predict(net, volume, roi, overlap=overlap, sw_batch_size=2, device="cpu")
    predictor, _ = prepare_window_predictor(net, "cpu")
    return volume, FittedWindowSplitter(roi, overlap, network_min_window(net)), expected, predictor


@pytest.mark.parametrize("block_shape", [(7, 9, 11), (3, 4, 5), (23, 31, 29)])
def test_blockwise_equals_in_memory(case, tmp_path, block_shape):
    volume, splitter, expected, predictor = case
    engine = BlockwisePrediction(predictor, splitter, tmp_path / "work", sw_batch_size=2, block_shape=block_shape)
    out, report = _run(engine, volume, 2)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert len(report.assembled) == report.blocks
    engine.cleanup()
    assert not (tmp_path / "work").exists()


def test_blockwise_equals_in_memory_when_the_roi_is_larger_than_the_volume(tmp_path):
    net = TinyNet(seed=1)
    net.min_input_size = (8, 1, 1)
    volume = np.random.RandomState(2).randn(1, 6, 25, 17).astype(np.float32)
    expected = predict(net, volume, (10, 8, 20), overlap=0.25, device="cpu")
    predictor, _ = prepare_window_predictor(net, "cpu")
    splitter = FittedWindowSplitter((10, 8, 20), 0.25, network_min_window(net))
    assert splitter.window_for((6, 25, 17)) == (8, 8, 17)  # depth 6 reflected up to the minimum 8
    engine = BlockwisePrediction(predictor, splitter, tmp_path / "w", block_shape=(4, 7, 5))
    np.testing.assert_allclose(_run(engine, volume, 1)[0], expected, atol=1e-5)


def test_blockwise_2d_network_with_tta_equals_in_memory(tmp_path):
    net = TinyNet(spatial_dims=2, seed=4)
    volume = np.random.RandomState(5).randn(1, 5, 27, 22).astype(np.float32)
    expected = predict(net, volume, (13, 10), overlap=0.5, tta=True, device="cpu")
    predictor, _ = prepare_window_predictor(net, "cpu", tta=True)
    splitter = FittedWindowSplitter((1, 13, 10), (0.0, 0.5, 0.5))
    engine = BlockwisePrediction(predictor, splitter, tmp_path / "w", block_shape=(2, 8, 9), sw_batch_size=4)
    np.testing.assert_allclose(_run(engine, volume, 1)[0], expected, atol=1e-5)


def test_interrupted_run_resumes_without_predicting_finished_blocks(case, tmp_path):
    volume, splitter, expected, predictor = case
    first = CountingPredictor(predictor, stop_after=20)
    with pytest.raises(Interrupted):
        _run(BlockwisePrediction(first, splitter, tmp_path / "w", block_shape=(7, 9, 11)), volume, 2)
    finished = sorted(p.name for p in (tmp_path / "w" / "partials").iterdir())
    assert 0 < len(finished) < 18 and all(name.startswith("block-") for name in finished)
    second = CountingPredictor(predictor)
    engine = BlockwisePrediction(second, splitter, tmp_path / "w", block_shape=(7, 9, 11), resume=True)
    out, report = _run(engine, volume, 2)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    plan = engine.plan(volume.shape, 2)
    owning = [k for k in plan.blocks() if plan.halo(k) is not None]
    # exactly the unfinished blocks were predicted, each window once
    assert sorted(report.predicted) == sorted(k for k in owning if f"block-{'-'.join(map(str, k))}.npy" not in finished)
    assert second.windows == sum(plan.windows(k) for k in report.predicted)
    skipped = sum(plan.windows(k) for k in owning if k not in report.predicted)
    assert second.windows + skipped == 5 * 6 * 4  # every window of the grid, once


def test_resume_with_other_settings_is_refused(case, tmp_path):
    volume, splitter, _, predictor = case
    with pytest.raises(Interrupted):
        _run(
            BlockwisePrediction(CountingPredictor(predictor, 5), splitter, tmp_path / "w", fingerprint={"a": 1}),
            volume,
            2,
        )
    engine = BlockwisePrediction(predictor, splitter, tmp_path / "w", fingerprint={"a": 2}, resume=True)
    with pytest.raises(ValueError, match="Cannot resume from .* other settings"):
        _run(engine, volume, 2)


def test_block_plan_owns_every_window_once_and_lists_the_sources_of_each_block():
    splitter = FittedWindowSplitter((8, 10, 12), 0.5)
    plan = BlockPlan(splitter, (23, 31, 29), (7, 9, 11))
    # starts z 0 4 8 12 15, y 0 5 10 15 20 21, x 0 6 12 17: 5 * 6 * 4 windows
    assert sum(plan.windows(k) for k in plan.blocks()) == 5 * 6 * 4
    assert plan.grid_shape == (4, 4, 3)
    assert plan.halo((0, 0, 0)) == (slice(0, 12), slice(0, 15), slice(0, 18))
    assert plan.halo((3, 0, 0)) is None  # z block 21..23 holds no window start
    # block (1, 1, 1) = z 7..14, y 9..18, x 11..22 receives windows from the blocks before it along each axis
    assert plan.sources((1, 1, 1)) == [(z, y, x) for z in (0, 1) for y in (0, 1) for x in (0, 1)]


def test_default_block_shape_halves_the_longest_axis_until_it_fits():
    # halving 512 -> 256 -> 128 on every axis: (128 + 64)^3 voxels * 4 channels * 4 bytes = 113 MB > 64 MB;
    # (64 + 64) * 192^2 * 16 = 75 MB > 64 MB; (64 + 64)^2 * 192 * 16 = 50 MB fits
    assert default_block_shape((512, 512, 512), (64, 64, 64), channels=4, memory_bytes=64 * 2**20) == (64, 64, 128)
    assert default_block_shape((100, 100, 100), (64, 64, 64), channels=4) == (100, 100, 100)
    assert default_block_shape((512, 512, 512), (64, 64, 64), channels=4, memory_bytes=1) == (64, 64, 64)
    # rounded down to whole input chunks
    assert default_block_shape((512, 512, 512), (64, 64, 64), 4, 64 * 2**20, chunks=(48, 48, 48)) == (48, 48, 96)


def test_progress_bar_counts_blocks(case, tmp_path, capsys):
    volume, splitter, _, predictor = case
    engine = BlockwisePrediction(predictor, splitter, tmp_path / "w", block_shape=(12, 16, 15), progress=True)
    with torch.inference_mode():
        _run(engine, volume, 2)
    assert "8/8" in capsys.readouterr().err
