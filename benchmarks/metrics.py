"""Time the instance metrics on a 100x512x512 volume with about 2000 instances, on one core.

Builds a deterministic Voronoi labelling (nearest of ~2000 random seeds, computed on a half-resolution grid with a
Euclidean distance transform and upsampled), zeroes the voxels on instance borders as ground-truth background,
and a prediction from the same seeds jittered, with 5% of them dropped (merges) and 5% added (splits). Prints the
time of AdaptedRandError and AveragePrecision, the time of ``skimage.metrics.adapted_rand_error`` on the same
input and their ratio, and the time of the boundary-map variants on a boundary map derived from the predicted borders.

Run: ``python benchmarks/metrics.py [--shape 100 512 512] [--instances 2000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy import ndimage
from skimage.metrics import adapted_rand_error as skimage_adapted_rand_error

from unet3d_monai.metrics import AdaptedRandError, AveragePrecision, BoundaryAdaptedRandError, BoundaryAveragePrecision


def voronoi_labels(shape: tuple[int, ...], seeds: np.ndarray) -> np.ndarray:
    """Label every voxel with 1 + the index of its nearest seed, computed at half resolution and upsampled."""
    coarse_shape = tuple((s + 1) // 2 for s in shape)
    markers = np.zeros(coarse_shape, dtype=np.int32)
    coarse = np.minimum((seeds / 2).astype(np.int64), np.array(coarse_shape) - 1)
    markers[tuple(coarse.T)] = np.arange(1, len(seeds) + 1, dtype=np.int32)
    nearest = ndimage.distance_transform_edt(markers == 0, return_distances=False, return_indices=True)
    coarse_labels = markers[tuple(nearest)]
    full = coarse_labels
    for axis in range(len(shape)):
        full = np.repeat(full, 2, axis=axis)
    return np.ascontiguousarray(full[tuple(slice(0, s) for s in shape)])


def border_mask(labels: np.ndarray) -> np.ndarray:
    """Voxels whose label differs from the next voxel along some axis."""
    border = np.zeros(labels.shape, dtype=bool)
    for axis in range(labels.ndim):
        lower = [slice(None)] * labels.ndim
        upper = [slice(None)] * labels.ndim
        lower[axis] = slice(0, -1)
        upper[axis] = slice(1, None)
        border[tuple(lower)] |= labels[tuple(lower)] != labels[tuple(upper)]
    return border


def make_volumes(shape: tuple[int, ...], n_instances: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    seeds = rng.uniform(0, 1, size=(n_instances, len(shape))) * np.array(shape)
    truth = voronoi_labels(shape, seeds).astype(np.int64)
    truth[border_mask(truth)] = 0
    keep = rng.uniform(size=n_instances) > 0.05
    jittered = seeds[keep] + rng.normal(0, 2.0, size=(int(keep.sum()), len(shape)))
    extra = rng.uniform(0, 1, size=(n_instances // 20, len(shape))) * np.array(shape)
    moved = np.clip(np.concatenate([jittered, extra]), 0, np.array(shape) - 1)
    prediction = voronoi_labels(shape, moved).astype(np.int64)
    return truth, prediction


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs="+", default=[100, 512, 512])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    shape = tuple(args.shape)

    start = time.perf_counter()
    truth, prediction = make_volumes(shape, args.instances)
    print(
        f"volume {shape}, {len(np.unique(truth)) - 1} true / {len(np.unique(prediction))} predicted instances "
        f"(built in {time.perf_counter() - start:.1f} s); one torch thread"
    )

    y = torch.from_numpy(truth)[None, None]
    y_pred = torch.from_numpy(prediction)[None, None]

    t_arand, arand = best_time(lambda: AdaptedRandError()(y_pred=y_pred, y=y).item(), args.repeats)
    t_skimage, reference = best_time(lambda: skimage_adapted_rand_error(truth, prediction)[0], args.repeats)
    t_ap, ap = best_time(lambda: AveragePrecision()(y_pred=y_pred, y=y).item(), args.repeats)
    print(f"AdaptedRandError          {t_arand:7.3f} s   value {arand:.6f}")
    difference = abs(arand - reference)
    print(f"skimage adapted_rand_error {t_skimage:6.3f} s   value {reference:.6f}   |diff| {difference:.1e}")
    print(f"speed-up over skimage     {t_skimage / t_arand:7.1f} x")
    print(f"AveragePrecision          {t_ap:7.3f} s   value {ap:.6f}")

    # a boundary probability map: 0.9 on the predicted borders, 0.1 inside, plus noise
    rng = np.random.RandomState(1)
    boundary = np.where(border_mask(prediction), 0.9, 0.1).astype(np.float32)
    boundary += rng.normal(0, 0.05, size=shape).astype(np.float32)
    boundary = torch.from_numpy(np.clip(boundary, 0.0, 1.0))[None, None]
    t_barand, barand = best_time(lambda: BoundaryAdaptedRandError()(y_pred=boundary, y=y).item(), 1)
    t_bap, bap = best_time(lambda: BoundaryAveragePrecision()(y_pred=boundary, y=y).item(), 1)
    print(f"BoundaryAdaptedRandError  {t_barand:7.3f} s   value {barand:.6f}   (4 thresholds, connected components)")
    print(f"BoundaryAveragePrecision  {t_bap:7.3f} s   value {bap:.6f}   (4 thresholds, connected components)")


if __name__ == "__main__":
    main()
