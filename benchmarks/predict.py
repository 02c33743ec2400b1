"""Prediction benchmark: sliding-window overhead over the network's forward passes, and block-wise peak memory.

Part 1 (``in-memory``): UNet3D (f_maps 32, 'gcr', 8 groups) predicts a 96x256x256 volume with roi 64x160x160,
overlap 0.25, on ``--threads`` CPU threads. Printed: total seconds of :func:`unet3d_monai.inference.predict`, the
sum of the network's forward passes alone over the same windows run afterwards (the compute floor), their ratio,
the forward time measured inside the same ``predict`` call (immune to load changes between the two runs on
shared machines), output voxels per second and the peak resident memory of that process.

Part 2 (``blockwise``): a float32 HDF5 volume of ``--blockwise-gb`` GB is written to ``benchmarks/_work/`` and
predicted block-wise from disk by :class:`unet3d_monai.inference.VolumePredictor` with a small network. Printed:
seconds, blocks per second, user and system CPU seconds and the peak resident memory of that process.

Part 3 (``--scheduler local:1 local:2``): the same volume predicted block-wise on a Dask ``LocalCluster`` per
value (``local:N``: N worker processes of one thread, torch in each with the cores divided by N), zarr output
written by the workers. Printed per value: seconds, blocks per second, the peak resident memory of each worker and
of the client, and the speed-up over the first value with its efficiency (speed-up divided by the ratio of worker
counts; on 2 cores, ``local:1`` runs torch on 2 threads and ``local:2`` two workers on 1 thread each).

Each part runs in its own process so that each peak-memory figure is its own. Figures only, never pass/fail.

Usage::

    python benchmarks/predict.py                       # both parts
    python benchmarks/predict.py --part blockwise --blockwise-gb 0.5
    python benchmarks/predict.py --scheduler local:1 local:2 --blockwise-gb 0.5
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch

WORK = Path(__file__).resolve().parent / "_work"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class TimedNetwork(torch.nn.Module):
    """Wraps a network and adds up the wall time of its forward passes."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network
        self.final_activation = network.final_activation
        self.seconds = 0.0
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = self.network(x)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def in_memory(threads: int, shape: tuple[int, ...], roi: tuple[int, ...], f_maps: int) -> dict:
    from unet3d_monai.inference import FittedWindowSplitter, predict
    from unet3d_monai.networks import UNet3D

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    network = UNet3D(in_channels=1, out_channels=1, f_maps=f_maps, layer_order="gcr", num_groups=8).eval()
    volume = np.random.RandomState(0).randn(1, *shape).astype(np.float32)

    # one untimed forward pass first: oneDNN builds its kernels for a new input shape on the first call, which
    # would otherwise be charged to whichever measurement runs first
    with torch.inference_mode():
        network(torch.zeros(1, 1, *roi))
    timed = TimedNetwork(network)
    start = time.perf_counter()
    predictions = predict(timed, volume, roi, overlap=0.25, sw_batch_size=1, device="cpu")
    total = time.perf_counter() - start

    # the compute floor: the same windows through the network alone (activation included), nothing else
    windows = 0
    floor = 0.0
    with torch.inference_mode():
        for patch, _ in FittedWindowSplitter(roi, overlap=0.25)(torch.from_numpy(volume)[None]):
            patch = patch.contiguous()
            windows += 1
            start = time.perf_counter()
            network.final_activation(network(patch))
            floor += time.perf_counter() - start
    assert predictions.shape == (1, *shape)
    return {
        "shape": list(shape),
        "roi": list(roi),
        "windows": windows,
        "threads": threads,
        "total_s": round(total, 2),
        "forward_floor_s": round(floor, 2),
        "total_over_floor": round(total / floor, 3),
        "forward_s_inside_predict": round(timed.seconds, 2),
        "total_over_forward_inside_predict": round(total / timed.seconds, 3),
        "output_voxels_per_s": round(math.prod(shape) / total),
        "peak_rss_mb": round(_peak_rss_mb()),
    }


def _make_volume(path: Path, gigabytes: float) -> tuple[int, ...]:
    """A float32 (Z, 1024, 1024) volume of about ``gigabytes`` GB, written slab by slab."""
    yx = 1024
    z = max(8, int(round(gigabytes * 2**30 / (4 * yx * yx))))
    shape = (z, yx, yx)
    if path.exists():
        with h5py.File(path, "r") as f:
            if f["raw"].shape == shape:
                return shape
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        dataset = f.create_dataset("raw", shape=shape, dtype="float32", chunks=(8, 128, 128))
        for z0 in range(0, z, 16):
            z1 = min(z, z0 + 16)
            dataset[z0:z1] = rng.standard_normal((z1 - z0, yx, yx), dtype=np.float32)
    return shape


def blockwise(threads: int, gigabytes: float, roi: tuple[int, ...]) -> dict:
    from monai.inferers import SlidingWindowInferer

    from unet3d_monai.inference import VolumePredictor
    from unet3d_monai.networks import UNet3D

    torch.set_num_threads(threads)
    WORK.mkdir(exist_ok=True)
    path = WORK / "large.h5"
    start = time.perf_counter()
    shape = _make_volume(path, gigabytes)
    made = time.perf_counter() - start
    output = WORK / "out"
    torch.manual_seed(0)
    network = UNet3D(in_channels=1, out_channels=1, f_maps=[2, 4], layer_order="cr", num_groups=1)
    predictor = VolumePredictor(
        network,
        SlidingWindowInferer(roi, overlap=0.25, mode="gaussian"),
        output,
        device="cpu",
        blockwise=True,
        overwrite=True,
        progress=False,
    )
    rss_before = _peak_rss_mb()
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    (written,) = predictor.run(path)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    with h5py.File(written, "r") as f:
        out_shape = f["predictions"].shape
    written.unlink()
    blocks = _blocks(predictor, shape, roi)
    return {
        "volume_shape": list(shape),
        "volume_gb": round(4 * math.prod(shape) / 2**30, 2),
        "roi": list(roi),
        "output_shape": list(out_shape),
        "threads": threads,
        "write_input_s": round(made, 1),
        "predict_s": round(seconds, 1),
        "blocks": blocks,
        "blocks_per_s": round(blocks / seconds, 3),
        "user_s": round(after.ru_utime - before.ru_utime, 1),
        "sys_s": round(after.ru_stime - before.ru_stime, 1),
        "peak_rss_before_predict_mb": round(rss_before),
        "peak_rss_mb": round(_peak_rss_mb()),
    }


def _blocks(predictor, shape: tuple[int, ...], roi: tuple[int, ...]) -> int:
    """Number of blocks the predictor cuts the volume into."""
    from unet3d_monai.inference import BlockPlan, FittedWindowSplitter, default_block_shape

    splitter = FittedWindowSplitter(roi, overlap=0.25)
    block = predictor.block_inferer.block_shape or default_block_shape(
        shape, splitter.window_for(shape), 3, predictor.block_inferer.block_memory_bytes, (8, 128, 128)
    )
    return math.prod(BlockPlan(splitter, shape, block).grid_shape)


def _worker_usage() -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_rss_mb": usage.ru_maxrss / 1024.0, "user_s": usage.ru_utime, "sys_s": usage.ru_stime}


def on_cluster(gigabytes: float, roi: tuple[int, ...], scheduler: str) -> dict:
    import os
    import shutil

    from distributed import Client
    from monai.inferers import SlidingWindowInferer

    from unet3d_monai.inference import VolumePredictor
    from unet3d_monai.inference.distributed import local_cluster, parse_scheduler
    from unet3d_monai.networks import UNet3D

    kind, workers = parse_scheduler(scheduler)
    if kind != "local":
        raise SystemExit(f"--scheduler {scheduler}: the benchmark starts its own clusters (local:N).")
    WORK.mkdir(exist_ok=True)
    path = WORK / "large.h5"
    shape = _make_volume(path, gigabytes)
    torch.manual_seed(0)
    network = UNet3D(in_channels=1, out_channels=1, f_maps=[2, 4], layer_order="cr", num_groups=1)
    cores = len(os.sched_getaffinity(0))
    with (
        local_cluster(workers) as cluster,
        Client(cluster) as client,
    ):
        predictor = VolumePredictor(
            network,
            SlidingWindowInferer(roi, overlap=0.25, mode="gaussian"),
            WORK / "out",
            device="cpu",
            overwrite=True,
            progress=False,
            scheduler=client,
            output_format="zarr",
        )
        # warm the workers (imports) so that the timing is prediction only
        client.run(lambda: __import__("unet3d_monai.inference.block_prediction"))
        start = time.perf_counter()
        (written,) = predictor.run(path)
        seconds = time.perf_counter() - start
        usage = client.run(_worker_usage)
    shutil.rmtree(written)
    blocks = _blocks(predictor, shape, roi)
    return {
        "scheduler": scheduler,
        "workers": workers,
        "torch_threads_per_worker": max(1, cores // workers),
        "volume_shape": list(shape),
        "volume_gb": round(4 * math.prod(shape) / 2**30, 2),
        "roi": list(roi),
        "predict_s": round(seconds, 1),
        "blocks": blocks,
        "blocks_per_s": round(blocks / seconds, 3),
        "worker_peak_rss_mb": sorted(round(u["peak_rss_mb"]) for u in usage.values()),
        "worker_user_s": round(sum(u["user_s"] for u in usage.values()), 1),
        "worker_sys_s": round(sum(u["sys_s"] for u in usage.values()), 1),
        "client_peak_rss_mb": round(_peak_rss_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "in-memory", "blockwise", "cluster"], default="all")
    parser.add_argument(
        "--scheduler", nargs="+", default=None, help="local:N values to compare on a Dask LocalCluster (part 3)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shape", type=int, nargs=3, default=[96, 256, 256])
    parser.add_argument("--roi", type=int, nargs=3, default=[64, 160, 160])
    parser.add_argument("--f-maps", type=int, default=32)
    parser.add_argument("--blockwise-gb", type=float, default=2.0, help="size of the block-wise volume in GB")
    parser.add_argument("--blockwise-roi", type=int, nargs=3, default=[64, 128, 128])
    args = parser.parse_args()

    if args.scheduler and args.part != "cluster":
        results = []
        for scheduler in args.scheduler:
            command = [sys.executable, __file__, "--part", "cluster", "--scheduler", scheduler]
            command += ["--blockwise-gb", str(args.blockwise_gb), "--blockwise-roi", *map(str, args.blockwise_roi)]
            completed = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
            line = completed.stdout.strip().splitlines()[-1]
            results.append(json.loads(line)["cluster"])
            print(line, flush=True)
        first = results[0]
        for result in results[1:]:
            speedup = first["predict_s"] / result["predict_s"]
            summary = {
                "speedup": f"{result['scheduler']} over {first['scheduler']}",
                "times": round(speedup, 2),
                "efficiency": round(speedup / (result["workers"] / first["workers"]), 2),
            }
            print(json.dumps(summary), flush=True)
        return
    if args.part == "all":
        for part in ("in-memory", "blockwise"):
            command = [
                sys.executable,
                __file__,
                "--part",
                part,
                "--threads",
                str(args.threads),
                "--shape",
                *map(str, args.shape),
                "--roi",
                *map(str, args.roi),
                "--f-maps",
                str(args.f_maps),
                "--blockwise-gb",
                str(args.blockwise_gb),
                "--blockwise-roi",
                *map(str, args.blockwise_roi),
            ]
            subprocess.run(command, check=True)
        return
    if args.part == "cluster":
        result = on_cluster(args.blockwise_gb, tuple(args.blockwise_roi), args.scheduler[0])
    elif args.part == "in-memory":
        result = in_memory(args.threads, tuple(args.shape), tuple(args.roi), args.f_maps)
    else:
        result = blockwise(args.threads, args.blockwise_gb, tuple(args.blockwise_roi))
    print(json.dumps({args.part: result}), flush=True)


if __name__ == "__main__":
    main()
