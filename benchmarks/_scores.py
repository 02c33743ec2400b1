"""Scores of the quality benchmark, computed with scikit-image (code this project did not write).

Every scorer takes the ground truth and one method's output for one test volume and returns a dict of
named figures; :data:`METRICS` gives each figure's direction. ``self_check()`` compares the scorers with
values worked out by hand on small arrays.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import adapted_rand_error, contingency_table, peak_signal_noise_ratio

__all__ = [
    "METRICS",
    "ap50",
    "affine_fit",
    "class_dice",
    "foreground_dice",
    "score_boundary",
    "score_classes",
    "score_instances",
    "score_regression",
    "self_check",
]

ARAND = "adapted Rand error"
AP50 = "AP at IoU 0.5"
FG_DICE = "foreground Dice"
PSNR = "PSNR dB"
PSNR_FIT = "PSNR dB, affine fit to clean"
CLASS_NAMES = {0: "background", 1: "cytoplasm (1)", 2: "nucleus (2)"}

METRICS: dict[str, str] = {
    ARAND: "lower is better",
    AP50: "higher is better",
    FG_DICE: "higher is better",
    PSNR: "higher is better",
    PSNR_FIT: "higher is better",
    **{f"Dice {name}": "higher is better" for name in CLASS_NAMES.values()},
}
"""Every figure a scorer can return, with its direction."""


def ap50(label: np.ndarray, segmentation: np.ndarray) -> float:
    """Average precision at IoU 0.5 with one-to-one matching: ``TP / (TP + FP + FN)``.

    The IoU matrix of ground-truth instances (rows) against predicted instances (columns) comes from
    ``skimage.metrics.contingency_table``; label 0 is background in both and is not an instance. A pair with
    IoU above 0.5 is a true positive; at most one such pair exists per instance, so the matching is one-to-one.
    Unmatched predictions are false positives, unmatched ground-truth instances false negatives. Two empty
    volumes score 1.
    """
    table = contingency_table(label, segmentation).toarray().astype(np.float64)
    # sizes over the whole volume, background overlaps included
    true_sizes, pred_sizes = table.sum(axis=1), table.sum(axis=0)
    true_ids = [i for i in range(1, table.shape[0]) if true_sizes[i] > 0]
    pred_ids = [j for j in range(1, table.shape[1]) if pred_sizes[j] > 0]
    if not true_ids and not pred_ids:
        return 1.0
    overlap = table[np.ix_(true_ids, pred_ids)]
    union = true_sizes[true_ids][:, None] + pred_sizes[pred_ids][None, :] - overlap
    iou = overlap / np.maximum(union, 1.0)
    tp = int(np.count_nonzero(iou > 0.5))
    fp, fn = len(pred_ids) - tp, len(true_ids) - tp
    return tp / (tp + fp + fn)


def _dice(truth: np.ndarray, prediction: np.ndarray) -> float:
    total = int(truth.sum()) + int(prediction.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(truth, prediction).sum()) / total


def foreground_dice(label: np.ndarray, segmentation: np.ndarray) -> float:
    """Dice of ``label > 0`` against ``segmentation > 0``."""
    return _dice(np.asarray(label) > 0, np.asarray(segmentation) > 0)


def class_dice(label: np.ndarray, segmentation: np.ndarray, class_id: int) -> float:
    """Dice of ``label == class_id`` against ``segmentation == class_id``."""
    return _dice(np.asarray(label) == class_id, np.asarray(segmentation) == class_id)


def affine_fit(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``a * prediction + b`` with ``a, b`` the least-squares fit to ``target``."""
    x = np.asarray(prediction, dtype=np.float64).ravel()
    design = np.stack([x, np.ones_like(x)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, np.asarray(target, dtype=np.float64).ravel(), rcond=None)
    return (a * np.asarray(prediction, dtype=np.float64) + b).astype(np.float32)


def score_boundary(label: np.ndarray, segmentation: np.ndarray) -> dict[str, float]:
    """``skimage.metrics.adapted_rand_error(label, segmentation)[0]`` (label 0, if any, ignored)."""
    return {ARAND: float(adapted_rand_error(label.astype(np.int64), segmentation.astype(np.int64))[0])}


def score_instances(label: np.ndarray, segmentation: np.ndarray) -> dict[str, float]:
    """AP at IoU 0.5 and foreground Dice of an instance segmentation."""
    label, segmentation = label.astype(np.int64), segmentation.astype(np.int64)
    return {AP50: ap50(label, segmentation), FG_DICE: foreground_dice(label, segmentation)}


def score_classes(label: np.ndarray, segmentation: np.ndarray) -> dict[str, float]:
    """Dice per class (background, cytoplasm, nucleus) of a semantic segmentation."""
    return {f"Dice {name}": class_dice(label, segmentation, class_id) for class_id, name in CLASS_NAMES.items()}


def score_regression(clean: np.ndarray, prediction: np.ndarray, in_clean_units: bool) -> dict[str, float]:
    """PSNR of a denoised volume against the clean one, ``data_range = clean.max() - clean.min()``.

    ``PSNR dB`` needs ``prediction`` in the units of ``clean`` (``in_clean_units``); ``PSNR dB, affine fit to
    clean`` first maps the prediction by its least-squares affine fit to ``clean`` (it uses the clean volume, so
    it is an upper bound for any rescaling a user could do, and the only score for outputs without a unit).
    """
    clean = np.asarray(clean, dtype=np.float64)
    data_range = float(clean.max() - clean.min())
    scores = {}
    if in_clean_units:
        scores[PSNR] = float(peak_signal_noise_ratio(clean, prediction.astype(np.float64), data_range=data_range))
    fitted = affine_fit(prediction, clean).astype(np.float64)
    scores[PSNR_FIT] = float(peak_signal_noise_ratio(clean, fitted, data_range=data_range))
    return scores


def self_check() -> list[str]:
    """Compare the scorers with values worked out by hand; returns one line per check."""
    lines = []

    def check(name: str, got: float, expected: float, tolerance: float = 1e-9) -> None:
        ok = abs(got - expected) < tolerance
        lines.append(f"{'ok  ' if ok else 'FAIL'} {name}: {got:.6f} (expected {expected:.6f})")

    # ground truth: instance 1 (4 px), instance 2 (4 px), instance 3 (2 px)
    label = np.array(
        [
            [1, 1, 0, 2, 2],
            [1, 1, 0, 2, 2],
            [0, 0, 0, 0, 0],
            [3, 3, 0, 0, 0],
        ]
    )
    # prediction: A covers instance 1 exactly (IoU 1); B covers 2 of instance 2's pixels plus 2 background
    # pixels (IoU 2/6); C covers 1 pixel of instance 3 (IoU 1/2, not above 0.5); D is background only
    segmentation = np.array(
        [
            [5, 5, 0, 7, 0],
            [5, 5, 0, 7, 0],
            [0, 0, 0, 7, 0],
            [8, 0, 0, 7, 9],
        ]
    )
    # TP 1 (A); FP 3 (B, C, D); FN 2 (instances 2 and 3): 1 / 6
    check("AP50, hand-computed", ap50(label, segmentation), 1 / 6)
    # foreground: truth 10 px, prediction 4 + 4 + 1 + 1 = 10 px, overlap 4 + 2 + 1 = 7 px: 14 / 20
    check("foreground Dice, hand-computed", foreground_dice(label, segmentation), 14 / 20)
    # a relabelled copy matches every instance
    check("AP50 of a relabelled copy", ap50(label, np.where(label > 0, label + 10, 0)), 1.0)
    # splitting instance 1 in two halves (IoU 1/2 each) loses it and adds two false positives: 2 / 5
    split = label.copy()
    split[0:2, 1] = 4
    check("AP50 after a split", ap50(label, split), 2 / 5)
    classes = np.array([[0, 1, 1, 2], [0, 1, 2, 2]])
    predicted = np.array([[0, 1, 2, 2], [1, 1, 2, 0]])
    # class 1: truth 3 px, prediction 3 px, overlap 2: 4 / 6; class 2: truth 3, prediction 3, overlap 2: 4/6;
    # background: truth 2, prediction 2, overlap 1: 2 / 4
    check("Dice class 1, hand-computed", class_dice(classes, predicted, 1), 4 / 6)
    check("Dice class 2, hand-computed", class_dice(classes, predicted, 2), 4 / 6)
    check("Dice background, hand-computed", class_dice(classes, predicted, 0), 2 / 4)
    clean = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    noisy = clean + np.array([0.5, -0.5, 0.5, -0.5, 0.0])
    # MSE 0.2, data range 4: 10 log10(16 / 0.2)
    check("PSNR, hand-computed", score_regression(clean, noisy, True)[PSNR], 10 * np.log10(16 / 0.2))
    worst = float(np.abs(affine_fit(3 * clean - 7, clean) - clean).max())
    check("affine fit recovers a rescaled copy", worst, 0.0, tolerance=1e-5)
    # two cells of 4 px merged into one segment, counting voxel pairs: pairs together in both 2 * C(4, 2) = 12,
    # together in the segmentation C(8, 2) = 28, together in the truth 12; precision 12/28 = 3/7, recall 1;
    # adapted Rand error = 1 - 2 P R / (P + R) = 1 - 0.6
    cells = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    merged = np.ones_like(cells)
    check("adapted Rand error of a merge, hand-computed", score_boundary(cells, merged)[ARAND], 0.4)
    return lines
