"""Patch loading throughput and peak memory from a large chunked HDF5 volume.

Creates (once) ``benchmarks/_work/data_loading_<shape>.h5``: a ~2 GB float32 ``raw`` volume (500 x 1000 x 1000 by
default) and a uint8 ``label``, chunked, uncompressed. Then measures, for 80 x 170 x 170 random patches
(:class:`~unet3d_monai.data.RandomHDF5PatchDataset`) with a MONAI augmentation pipeline (Normalized,
RandFlipd, RandRotate90d, RandGaussianNoised):

- the time to create the dataset (the chunked statistics pass over the whole volume, done once);
- the time per patch on one core (``num_workers=0``, one torch thread), split into reading and augmenting;
- patches per second through ``monai.data.DataLoader`` with 0, 1 and 2 workers;
- the time of the label-foreground filter pass of a sliding-window dataset;
- peak resident memory of this process plus its workers (sampled RSS sum, and ``getrusage`` maxima).

Run from the repository root::

    python benchmarks/data_loading.py             # defaults
    python benchmarks/data_loading.py --samples 60 --workers 0 1 2 4

The file is read through the operating system's page cache: right after creation the figures are those of
warm reads; on a cold cache they also include the disk.
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import psutil
import torch
from monai.data import DataLoader
from monai.transforms import Compose, RandFlipd, RandGaussianNoised, RandRotate90d
from monai.utils import set_determinism

from unet3d_monai.data import HDF5PatchDataset, Normalized, RandomHDF5PatchDataset
from unet3d_monai.data.patches import grid_origins
from unet3d_monai.data.stats import clear_stats_cache

WORK = Path(__file__).resolve().parent / "_work"


def create_volume(path: Path, shape: tuple[int, int, int], chunks: tuple[int, int, int]) -> None:
    """Write a noisy periodic pattern and a thresholded label, block by block (never whole in memory)."""
    if path.exists():
        with h5py.File(path, "r") as f:
            if f["raw"].shape == shape and f["raw"].chunks == chunks:
                return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".h5.part")
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    with h5py.File(tmp, "w") as f:
        raw = f.create_dataset("raw", shape=shape, dtype=np.float32, chunks=chunks)
        label = f.create_dataset("label", shape=shape, dtype=np.uint8, chunks=chunks)
        xx = np.arange(shape[2])
        for z in range(0, shape[0], chunks[0]):
            dz = min(chunks[0], shape[0] - z)
            for y in range(0, shape[1], 2 * chunks[1]):  # blocks of whole chunks, a few MiB each
                dy = min(2 * chunks[1], shape[1] - y)
                yy = np.arange(y, y + dy)[:, None]
                block = rng.standard_normal((dz, dy, shape[2]), dtype=np.float32) * np.float32(0.3)
                block += (np.sin(yy / 23.0) * np.cos(xx / 17.0)).astype(np.float32) + np.float32(0.001 * z)
                raw[z : z + dz, y : y + dy] = block * np.float32(1000.0) + np.float32(2000.0)
                label[z : z + dz, y : y + dy] = (block > 0.5).astype(np.uint8)
    tmp.rename(path)
    print(f"created {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.0f} s")


class PeakRSS:
    """Samples the memory of this process (RSS) plus its workers every ``interval`` seconds.

    Forked workers share most pages (the interpreter, torch, MONAI) with this process, so they are counted by
    their unique set size (USS, the memory only they hold); summing their RSS would count the shared
    libraries once per worker.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                try:
                    total += child.memory_full_info().uss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def augmentations() -> Compose:
    keys = ["image", "label"]
    return Compose(
        [
            Normalized("image", mode="standardize"),
            RandFlipd(keys, prob=0.5, spatial_axis=0),
            RandFlipd(keys, prob=0.5, spatial_axis=1),
            RandFlipd(keys, prob=0.5, spatial_axis=2),
            RandRotate90d(keys, prob=0.5, spatial_axes=(1, 2)),
            RandGaussianNoised("image", prob=0.5, std=0.1),
        ]
    )


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(500, 1000, 1000))
    parser.add_argument("--chunks", type=int, nargs=3, default=(32, 64, 64))
    parser.add_argument("--patch", type=int, nargs=3, default=(80, 170, 170))
    parser.add_argument("--samples", type=int, default=40, help="patches per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=(0, 1, 2))
    args = parser.parse_args()

    path = WORK / f"data_loading_{'x'.join(str(s) for s in args.shape)}.h5"
    create_volume(path, tuple(args.shape), tuple(args.chunks))
    torch.set_num_threads(1)
    set_determinism(seed=0)
    patch = tuple(args.patch)
    rows = []

    baseline = psutil.Process().memory_info().rss  # interpreter + numpy + h5py + torch + MONAI
    with PeakRSS() as peak:
        clear_stats_cache()
        t0 = time.perf_counter()
        ds = RandomHDF5PatchDataset(path, patch, num_samples=args.samples, transform=augmentations())
        t_stats = time.perf_counter() - t0
        rss_after_stats = peak.peak

        # one core: read only, then read + augment, item by item
        reader = RandomHDF5PatchDataset(path, patch, num_samples=args.samples)
        reader[0]
        t0 = time.perf_counter()
        for i in range(args.samples):
            reader[i]
        t_read = (time.perf_counter() - t0) / args.samples
        ds[0]
        t0 = time.perf_counter()
        for i in range(args.samples):
            ds[i]
        t_full = (time.perf_counter() - t0) / args.samples
        reader.close()

        for workers in args.workers:
            loader = DataLoader(ds, batch_size=1, num_workers=workers, shuffle=False)
            with PeakRSS() as run_peak:
                t0 = time.perf_counter()
                batches = iter(loader)
                next(batches)  # worker start-up and first patch
                t_first = time.perf_counter() - t0
                t0 = time.perf_counter()
                n = sum(batch["image"].shape[0] for batch in batches)
                elapsed = time.perf_counter() - t0
            rows.append((workers, t_first, n / elapsed, elapsed / n, run_peak.peak))
        ds.close()

        # sliding-window enumeration with the label-foreground filter (one chunked pass over the label)
        stride = tuple(max(1, p // 2) for p in patch)
        t0 = time.perf_counter()
        grid = HDF5PatchDataset(path, patch, stride, threshold=0.2, slack_acceptance=0.01)
        t_filter = time.perf_counter() - t0
        n_total = len(grid_origins(grid.volumes[0].spatial_shape, patch, stride)[1])
        filter_row = (stride, t_filter, len(grid), n_total, peak.peak)

    usage_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    usage_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    size = path.stat().st_size
    print()
    print(f"volume {tuple(args.shape)} float32 + uint8 label, chunks {tuple(args.chunks)}, file {size / 2**30:.2f} GiB")
    print(f"patch {patch}, {args.samples} patches per row, {psutil.cpu_count()} CPUs, torch threads 1")
    print(f"RSS after imports (python, torch, MONAI), before any data: {mib(baseline)}")
    print(f"dataset creation (chunked statistics pass over raw): {t_stats:.1f} s, RSS then {mib(rss_after_stats)}")
    print(f"one core, per patch: read {t_read:.3f} s, read + augment {t_full:.3f} s")
    print()
    print("| workers | first patch (s) | patches/s after | s/patch | peak memory (RSS + workers' USS) |")
    print("|--------:|----------------:|----------------:|--------:|---------------------------------:|")
    for workers, first, rate, per, rss in rows:
        print(f"| {workers:7d} | {first:15.2f} | {rate:15.2f} | {per:7.3f} | {mib(rss):>32} |")
    stride, t_filter, kept, n_total, filter_peak = filter_row
    print()
    print(
        f"sliding window, stride {stride}, threshold 0.2: filter pass {t_filter:.1f} s, kept {kept} of {n_total} "
        f"patches, peak memory so far {mib(filter_peak)}"
    )
    print()
    overall = max([peak.peak, filter_peak] + [row[-1] for row in rows])
    print(f"peak memory over the whole run (RSS + workers' USS, sampled): {mib(overall)}")
    print(
        f"getrusage maxrss (RSS, shared pages included): this process {mib(usage_self)}, "
        f"largest worker {mib(usage_children)}"
    )


if __name__ == "__main__":
    main()
