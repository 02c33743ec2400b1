"""The quality benchmark's scorers and summaries: hand-computed cases, and agreement with scikit-image's and this
package's own implementations on random label volumes."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import adapted_rand_error

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _baselines  # noqa: E402
import _postprocessing  # noqa: E402
import _scores  # noqa: E402
import quality  # noqa: E402

from unet3d_monai.metrics import AdaptedRandError, AveragePrecision  # noqa: E402


@pytest.mark.parametrize("line", _scores.self_check(), ids=lambda line: line.split(":")[0][5:])
def test_scorers_give_the_hand_computed_values(line):
    assert line.startswith("ok"), line


def _random_labels(rng, shape=(12, 20, 20), count=8):
    """Boxes of random ids on a background of 0, overlapping at random."""
    labels = np.zeros(shape, np.int64)
    for index in range(1, count + 1):
        start = [int(rng.integers(0, s - 4)) for s in shape]
        size = [int(rng.integers(3, 9)) for _ in shape]
        labels[tuple(slice(a, a + b) for a, b in zip(start, size))] = index
    return labels


@pytest.mark.parametrize("seed", range(4))
def test_ap50_agrees_with_the_packages_average_precision(seed):
    rng = np.random.default_rng(seed)
    truth = _random_labels(rng)
    # the truth with some objects shifted, merged and dropped
    prediction = np.roll(truth, int(rng.integers(0, 3)), axis=2)
    prediction[prediction == 2] = 3
    prediction[prediction == 5] = 0
    expected = AveragePrecision(iou_thresholds=[0.5])(
        y_pred=torch.from_numpy(prediction)[None, None], y=torch.from_numpy(truth)[None, None]
    )
    assert _scores.ap50(truth, prediction) == pytest.approx(float(expected), abs=1e-12)
    assert 0.0 < _scores.ap50(truth, prediction) < 1.0


@pytest.mark.parametrize("seed", range(4))
def test_adapted_rand_is_scikit_images_and_agrees_with_the_package(seed):
    rng = np.random.default_rng(seed)
    truth = _random_labels(rng) + 1  # cells fill the volume: no background
    prediction = np.roll(truth, 2, axis=1)
    prediction[prediction == 3] = 4
    expected = adapted_rand_error(truth, prediction)[0]
    assert _scores.score_boundary(truth, prediction)[_scores.ARAND] == pytest.approx(expected, abs=1e-12)
    ours = AdaptedRandError()(y_pred=torch.from_numpy(prediction)[None, None], y=torch.from_numpy(truth)[None, None])
    assert float(ours) == pytest.approx(expected, abs=1e-9)
    assert _postprocessing.rank_score("boundary", truth, prediction) == pytest.approx(expected, abs=1e-12)


def test_the_mean_and_spread_over_seeds_leave_failed_seeds_out():
    per_seed = {
        0: {"mean": {"AP": 0.8}, "train": {"seconds": 10.0}, "precision": "bfloat16"},
        1: {"mean": {"AP": 0.6}, "train": {"seconds": 20.0}},
        2: {"error": "training failed: exit status 1"},
        3: {"mean": {"AP": 0.7}, "train": {"seconds": 30.0}},
    }
    summary = quality.over_seeds(per_seed)
    assert summary["n"] == 3 and summary["mean"]["AP"] == pytest.approx(0.7)
    assert summary["sd"]["AP"] == pytest.approx(0.1)  # sample standard deviation of 0.8, 0.6, 0.7
    assert summary["train"]["seconds"] == pytest.approx(20.0) and summary["precision"] == "bfloat16"
    assert summary["failed_seeds"] == {2: "training failed: exit status 1"}
    assert quality._cell(summary, "AP", 0) == "0.700 ± 0.100 (n=3)"
    assert quality.over_seeds({0: {"error": "no data"}})["error"] == "no data"


def test_the_baselines_map_is_smoothed_raw_between_its_percentiles():
    raw = np.zeros((4, 30, 30), np.float32)
    raw[:, 10:20, 10:20] = 100.0
    mapped = _baselines.intensity_map(raw, 0.0)
    assert mapped.shape == (1, 4, 30, 30) and mapped.dtype == np.float32
    assert mapped.min() == 0.0 and mapped.max() == 1.0 and mapped[0, 0, 15, 15] == 1.0
