"""A whole block-wise run of the boundary inference bundle, as a user runs it: time against its windows, peak memory.

A float32 HDF5 volume of ``--gb`` GiB (``(Z, 1024, 1024)``) is written to ``benchmarks/_work/`` with a randomly
initialised boundary network (UNet3D, ``--f-maps`` feature maps, the bundle's window 80x170x170). Three child
processes, one after the other:

1. ``windows``: the bundle's ``window_network`` on one 80x170x170 window, ``--repeats`` times after a warm-up:
   seconds per window (the network's forward pass, final activation and the run settings, nothing else);
2. ``start-up``: the same bundle command on a 16x32x32 volume (one small window): what a run costs besides windows;
3. one run per ``--modes`` entry: ``python -m monai.bundle run --config_file bundles/boundary/inference.json
   --blockwise true`` (``blockwise``) or ``--blockwise false`` (``in-memory``; a volume too large for memory is still
   predicted block-wise, and the bundle logs it) on the volume, with its wall time and peak resident memory
   (``ru_maxrss`` of the child).

Printed: windows in the volume, seconds per window, their sum, start-up, each run, the ratio of the run beyond
start-up to the sum of its windows, the run's peak memory, and with both modes the largest difference between their
predictions. ``--cpu-bf16 false`` computes in float32 (the bundle's default is bfloat16 where the CPU has it).
Figures only, never pass/fail.

Usage::

    python benchmarks/blockwise_bundle.py                 # 1 GiB (256x1024x1024), block-wise
    python benchmarks/blockwise_bundle.py --gb 0.25 --modes in-memory blockwise --cpu-bf16 false
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

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work" / "blockwise_bundle"
BUNDLE = ROOT / "bundles" / "boundary" / "inference.json"
WINDOW = (80, 170, 170)


def _network_options(f_maps: int) -> list[str]:
    return ["--network_def#f_maps", str(f_maps), "--network_def#num_groups", str(min(8, f_maps))]


def _write_volume(path: Path, shape: tuple[int, ...]) -> None:
    if path.exists():
        with h5py.File(path, "r") as f:
            if "raw" in f and f["raw"].shape == shape:
                return
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        chunks = tuple(min(c, s) for c, s in zip((8, 128, 128), shape))
        dataset = f.create_dataset("raw", shape=shape, dtype="float32", chunks=chunks)
        for z0 in range(0, shape[0], 16):
            z1 = min(shape[0], z0 + 16)
            dataset[z0:z1] = rng.standard_normal((z1 - z0, *shape[1:]), dtype=np.float32)


def _write_network(path: Path, f_maps: int) -> None:
    import torch
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLE))
    parser.update({"network_def#f_maps": f_maps, "network_def#num_groups": min(8, f_maps)})
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), path)


def _windows(shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """How many windows the bundle's grid has on a volume of ``shape``, and their size (fitted to the volume)."""
    from unet3d_monai.inference import FittedWindowSplitter

    splitter = FittedWindowSplitter(WINDOW, overlap=0.25)
    return math.prod(len(starts) for starts in splitter.axis_starts(shape)), splitter.window_for(shape)


def child_windows(args: argparse.Namespace) -> dict:
    """Seconds per window of the bundle's window network, with the bundle's run settings applied."""
    import torch
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLE))
    parser.update(
        {
            "ckpt_path": str(WORK / "model.pt"),
            "device": "cpu",
            "network_def#f_maps": args.f_maps,
            "network_def#num_groups": min(8, args.f_maps),
            "cpu_bf16": args.cpu_bf16,
        }
    )
    from unet3d_monai.runtime import configure_run

    network = parser.get_parsed_content("network")
    configure_run(torch.device("cpu"), network, cpu_bf16=args.cpu_bf16)
    window_network = parser.get_parsed_content("window_network").eval()
    window = torch.randn(1, 1, *args.window)
    seconds = []
    with torch.inference_mode():
        window_network(window)
        for _ in range(args.repeats):
            start = time.perf_counter()
            window_network(window)
            seconds.append(time.perf_counter() - start)
    return {"window_s": float(np.median(seconds)), "repeats": [round(s, 3) for s in seconds]}


def child_bundle(args: argparse.Namespace) -> dict:
    """One bundle command (its own child, so that ``ru_maxrss`` is that command's peak alone)."""
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(BUNDLE), "--input", args.volume]
    command += ["--ckpt_path", str(WORK / "model.pt"), "--output_dir", args.output, "--overwrite", "true"]
    command += ["--device", "cpu", "--blockwise", args.blockwise, "--progress", "false", *_network_options(args.f_maps)]
    command += ["--cpu_bf16", args.cpu_bf16]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return {
        "seconds": round(seconds, 1),
        "user_s": round(usage.ru_utime, 1),
        "sys_s": round(usage.ru_stime, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024.0),
    }


def _child(name: str, args: argparse.Namespace, *extra: str) -> dict:
    command = [sys.executable, __file__, "--child", name, "--f-maps", str(args.f_maps), "--cpu-bf16", args.cpu_bf16]
    command += extra
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--gb", type=float, default=1.0, help="volume size in GiB (float32, Z x 1024 x 1024)")
    cli.add_argument("--f-maps", type=int, default=8)
    cli.add_argument("--repeats", type=int, default=5)
    cli.add_argument("--modes", nargs="+", choices=["blockwise", "in-memory"], default=["blockwise"])
    cli.add_argument("--cpu-bf16", default="auto", choices=["auto", "true", "false"])
    cli.add_argument("--blockwise", default="true", help=argparse.SUPPRESS)
    cli.add_argument("--child", choices=["windows", "bundle"], help=argparse.SUPPRESS)
    cli.add_argument("--volume", help=argparse.SUPPRESS)
    cli.add_argument("--output", help=argparse.SUPPRESS)
    cli.add_argument("--window", type=int, nargs=3, default=list(WINDOW), help=argparse.SUPPRESS)
    args = cli.parse_args()
    if args.child is not None:
        print(json.dumps({"windows": child_windows, "bundle": child_bundle}[args.child](args)))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    shape = (max(8, round(args.gb * 2**30 / (4 * 1024 * 1024))), 1024, 1024)
    _write_volume(WORK / "volume.h5", shape)
    _write_volume(WORK / "small.h5", (16, 32, 32))
    _write_network(WORK / "model.pt", args.f_maps)
    count, window = _windows(shape)
    windows = _child("windows", args, "--repeats", str(args.repeats), "--window", *map(str, window))
    startup = _child("bundle", args, "--volume", str(WORK / "small.h5"), "--output", str(WORK / "out_small"))
    total = count * windows["window_s"]
    size = "x".join(map(str, shape))
    print(f"volume {size} float32 ({args.gb:g} GiB), UNet3D f_maps {args.f_maps}, window {'x'.join(map(str, window))}")
    print(f"cpu_bf16 {args.cpu_bf16}; windows: {count} x {windows['window_s']:.3f} s = {total:.1f} s")
    print(f"  (window repeats {windows['repeats']})")
    print(f"start-up (16x32x32 volume): {startup['seconds']} s, peak {startup['peak_rss_mib']} MiB")
    outputs = {}
    for mode in args.modes:
        output = WORK / f"out_{mode}"
        flag = "true" if mode == "blockwise" else "false"
        run = _child("bundle", args, "--volume", str(WORK / "volume.h5"), "--output", str(output), "--blockwise", flag)
        outputs[mode] = output / "volume_predictions.h5"
        print(
            f"{mode} run: {run['seconds']} s ({run['user_s']} s user, {run['sys_s']} s system CPU), "
            f"peak {run['peak_rss_mib']} MiB; beyond start-up / sum of its windows: "
            f"{(run['seconds'] - startup['seconds']) / total:.3f}"
        )
    if len(outputs) == 2:
        with h5py.File(outputs["blockwise"], "r") as a, h5py.File(outputs["in-memory"], "r") as b:
            largest = max(
                float(np.abs(a["predictions"][:, z : z + 16] - b["predictions"][:, z : z + 16]).max())
                for z in range(0, shape[0], 16)
            )
        print(f"largest |block-wise - in-memory| prediction difference: {largest:.2e}")


if __name__ == "__main__":
    main()
