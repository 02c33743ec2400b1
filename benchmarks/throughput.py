"""Compute throughput of prediction and training against the machine's measured peak, one row per CPU setting.

Printed in one run:

- the peak: the best GFLOP/s of a 4096x4096 matrix product in float32 and in bfloat16 on this machine now;
- the work: the FLOPs of one prediction window of the boundary network (UNet3D, f_maps 32, 'gcr', 8 groups,
  ``--window``, default 80x170x170) and of one training step (forward, BCE + Dice loss, backward; ``--patch``,
  default 32x96x96), as counted by ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products);
- for each configuration (the CPU settings of ``unet3d_monai.runtime`` switched on one after the other, from the
  earlier float32 defaults to today's defaults): seconds per prediction window (the bundles' ``WindowPredictor``,
  activation included) and per training step (network, loss, Adam step, batches in memory: the steady state), the
  achieved GFLOP/s and their share of the peak of the precision used (bfloat16 rows against the bfloat16 peak);
- whole bundle runs (``bundles/boundary/inference.json`` on a volume of several windows, as a user runs it:
  Python start-up, imports, reading, normalisation, blending and writing included) with the earlier and today's
  defaults, in memory and block-wise (``--blockwise true``): seconds, GFLOP/s, the ratio of the run to the sum of
  its windows, and the peak resident memory of the process;
- what else was tried, each with its figure whether the bundles use it or not: two windows per forward pass
  (``--sw_batch_size 2``) and ``torch.compile`` of the network for prediction and for training (with compile time).

Every configuration runs in its own process: the allocator settings last for the process, and each peak-memory
figure must be its own. On a machine with CUDA the run also reports TFLOP/s of a window and a training step with
AMP, channels-last and cuDNN autotuning against the device's measured float16/bfloat16 matrix-product peak.

Timings depend on what else the machine runs; take them on an idle machine. Figures only, never pass or fail.

Usage::

    python benchmarks/throughput.py                 # full run (several windows and steps per configuration)
    python benchmarks/throughput.py --quick         # 2 windows and 3 steps per configuration, a 2-window volume
    python benchmarks/throughput.py --quick --window 32 64 64 --patch 16 48 48 --skip compile  # a smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bundles" / "boundary" / "inference.json"
MATMUL_SIZE = 4096
SEED = 0

#: configuration -> (glibc allocator, channels-last 3D, bfloat16 autocast); the last one is today's default
CONFIGS: dict[str, tuple[bool, bool, bool]] = {
    "float32 (earlier defaults)": (False, False, False),
    "float32 + allocator": (True, False, False),
    "float32 + allocator + channels-last": (True, True, False),
    "bfloat16": (False, False, True),
    "bfloat16 + allocator": (True, False, True),
    "bfloat16 + allocator + channels-last (defaults)": (True, True, True),
}
EARLIER, DEFAULTS = "float32 (earlier defaults)", "bfloat16 + allocator + channels-last (defaults)"


# ---------------------------------------------------------------------------------------------------------------
# measurements, each run in a child process


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def matmul_peak_gflops(dtype: torch.dtype, device: str = "cpu", size: int = MATMUL_SIZE, tries: int = 3) -> float:
    """Best GFLOP/s of a ``size`` x ``size`` matrix product in ``dtype`` over ``tries`` runs after one warm-up."""
    generator = torch.Generator().manual_seed(SEED)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(tries):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(10 if device == "cuda" else 1):
            torch.mm(a, b)
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / (10 if device == "cuda" else 1))
    return 2 * size**3 / best / 1e9


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def boundary_network() -> torch.nn.Module:
    from unet3d_monai.networks import UNet3D

    torch.manual_seed(SEED)
    return UNet3D(in_channels=1, out_channels=1, f_maps=32, layer_order="gcr", num_groups=8, final_sigmoid=True)


def training_batch(patch: list[int], device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(SEED)
    image = torch.randn(1, 1, *patch, generator=generator)
    label = (torch.rand(1, 1, *patch, generator=generator) > 0.8).float()
    return image.to(device), label.to(device)


def count_flops(window: list[int], patch: list[int]) -> dict[str, int]:
    """FLOPs of one prediction window (forward) and one training step (forward, loss, backward), float32."""
    from unet3d_monai.losses import BCEDiceLoss

    network = boundary_network().eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, 1, *window))
    window_flops = counter.get_total_flops()
    network.train()
    image, label = training_batch(patch)
    with FlopCounterMode(display=False) as counter:
        BCEDiceLoss(alpha=1.0, beta=1.0)(network(image), label).backward()
    return {"window": window_flops, "step": counter.get_total_flops()}


def time_windows(predictor: Callable[[torch.Tensor], torch.Tensor], window: list[int], batch: int, count: int) -> float:
    """Seconds per window over ``count`` forward passes of ``batch`` windows, after one warm-up pass."""
    windows = torch.randn(batch, 1, *window, generator=torch.Generator().manual_seed(SEED))
    with torch.inference_mode():
        predictor(windows)
        start = time.perf_counter()
        for _ in range(count):
            predictor(windows)
    return (time.perf_counter() - start) / (count * batch)


def time_steps(network: torch.nn.Module, bfloat16: bool, patch: list[int], count: int) -> float:
    """Seconds per training step (autocast forward as the bundles' ``AutocastInferer``, BCE + Dice loss in float32,
    backward, Adam step) over ``count`` steps after one warm-up step."""
    from unet3d_monai.losses import BCEDiceLoss

    network.train()
    loss_fn = BCEDiceLoss(alpha=1.0, beta=1.0)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    image, label = training_batch(patch)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            logits = network(image)
        loss_fn(logits, label).backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(count):
        step()
    return (time.perf_counter() - start) / count


def child_windows(args: argparse.Namespace) -> dict[str, Any]:
    """One configuration: seconds per window and per training step (and the extras for the defaults)."""
    from unet3d_monai.inference import WindowPredictor
    from unet3d_monai.runtime import CPURunSettings, apply_cpu_run, resolve_threads

    allocator, channels_last, bfloat16 = CONFIGS[args.config]
    settings = CPURunSettings(allocator, resolve_threads("auto"), channels_last, bfloat16)
    network = boundary_network()
    applied = apply_cpu_run(settings, network)
    result: dict[str, Any] = {"settings": applied.describe()}
    predictor = WindowPredictor(network.eval(), amp=bfloat16)
    result["window_s"] = time_windows(predictor, args.window, 1, args.windows)
    result["step_s"] = time_steps(network, bfloat16, args.patch, args.steps)
    if args.config == DEFAULTS and "batch2" not in args.skip:
        result["window_s_batch2"] = time_windows(predictor, args.window, 2, max(1, args.windows // 2))
    if args.config == DEFAULTS and "compile" not in args.skip:
        result.update(compiled(network, bfloat16, args))
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def compiled(network: torch.nn.Module, bfloat16: bool, args: argparse.Namespace) -> dict[str, Any]:
    """``torch.compile`` of the network (inductor, CPU): compile time and steady time, prediction and training."""
    from unet3d_monai.inference import WindowPredictor

    result: dict[str, Any] = {}
    try:
        compiled_network = torch.compile(network)
        predictor = WindowPredictor(compiled_network.eval(), amp=bfloat16)
        start = time.perf_counter()
        with torch.inference_mode():
            predictor(torch.zeros(1, 1, *args.window))
        result["compile_predict_s"] = time.perf_counter() - start
        result["window_s_compiled"] = time_windows(predictor, args.window, 1, args.windows)
        start = time.perf_counter()
        result["step_s_compiled"] = time_steps(compiled_network, bfloat16, args.patch, args.steps)
        result["compile_train_s"] = time.perf_counter() - start - args.steps * result["step_s_compiled"]
    except Exception as error:  # noqa: BLE001 - a compiler failure is a result to report, not a crash
        result["compile_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return result


def child_bundle(args: argparse.Namespace) -> dict[str, Any]:
    """One whole bundle run, timed from the start of this process (interpreter start-up included)."""
    import psutil

    start = psutil.Process().create_time()
    from monai.bundle import run

    allocator, channels_last, bfloat16 = CONFIGS[args.config]
    rss_before = peak_rss_mib()
    run(
        config_file=str(BUNDLE),
        input=args.input,
        ckpt_path=args.ckpt,
        output_dir=args.output_dir,
        roi_size=args.window,
        device="cpu",
        progress=False,
        overwrite=True,
        blockwise=args.blockwise,
        cpu_allocator=allocator,
        channels_last=channels_last,
        cpu_bf16=bfloat16,
    )
    return {"total_s": time.time() - start, "peak_rss_before_mib": rss_before, "peak_rss_mib": peak_rss_mib()}


def child_cuda(args: argparse.Namespace) -> dict[str, Any]:
    """TFLOP/s of a window and a training step on CUDA: float32 as is, then AMP + channels-last + cuDNN autotuning."""
    from unet3d_monai.inference import WindowPredictor
    from unet3d_monai.losses import BCEDiceLoss

    def timed(fn: Callable[[], object], count: int) -> float:
        fn()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(count):
            fn()
        torch.cuda.synchronize()
        return (time.perf_counter() - start) / count

    torch.backends.cuda.matmul.allow_tf32 = False
    result: dict[str, Any] = {
        "device_name": torch.cuda.get_device_name(),
        "peak_float32_tflops": matmul_peak_gflops(torch.float32, "cuda") / 1e3,
        "peak_bfloat16_tflops": matmul_peak_gflops(torch.bfloat16, "cuda") / 1e3,
        "peak_float16_tflops": matmul_peak_gflops(torch.float16, "cuda") / 1e3,
    }
    windows = torch.randn(args.cuda_batch, 1, *args.window, device="cuda")
    image, label = training_batch(args.patch, "cuda")
    loss_fn = BCEDiceLoss(alpha=1.0, beta=1.0)
    for name, fast in (("float32", False), ("amp+channels_last+cudnn_benchmark", True)):
        torch.backends.cudnn.benchmark = fast
        network = boundary_network().cuda()
        if fast:
            network.to(memory_format=torch.channels_last_3d)
        predictor = WindowPredictor(network.eval(), amp=fast, channels_last=fast)
        with torch.inference_mode():
            result[f"window_s_{name}"] = timed(lambda p=predictor: p(windows), args.windows) / args.cuda_batch
        network.train()
        optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
        scaler = torch.amp.GradScaler("cuda", enabled=fast)

        def step(network: torch.nn.Module = network, optimizer=optimizer, scaler=scaler, fast: bool = fast) -> None:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", enabled=fast):
                logits = network(image)
            scaler.scale(loss_fn(logits.float(), label)).backward()
            scaler.step(optimizer)
            scaler.update()

        result[f"step_s_{name}"] = timed(step, args.steps)
    return result


# ---------------------------------------------------------------------------------------------------------------
# the parent: prepares data, runs the children, prints the tables


def run_child(mode: str, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", mode, *common_arguments(args), *extra]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "failed"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def common_arguments(args: argparse.Namespace) -> list[str]:
    return [
        "--window",
        *map(str, args.window),
        "--patch",
        *map(str, args.patch),
        "--windows",
        str(args.windows),
        "--steps",
        str(args.steps),
        "--skip",
        *args.skip,
    ]


def bundle_volume_shape(window: list[int], per_axis: list[int]) -> list[int]:
    """A volume holding ``per_axis`` windows along each axis at overlap 0.25."""
    return [w + (n - 1) * int(w * 0.75) for w, n in zip(window, per_axis, strict=True)]


def prepare_bundle_inputs(work: Path, shape: list[int]) -> tuple[Path, Path]:
    import h5py
    import numpy as np

    volume = work / "volume.h5"
    with h5py.File(volume, "w") as f:
        f.create_dataset("raw", data=np.random.default_rng(SEED).normal(size=shape).astype(np.float32))
    ckpt = work / "model.pt"
    torch.save(boundary_network().state_dict(), ckpt)
    return volume, ckpt


def share(gflops: float, peak: float) -> str:
    return f"{gflops:.0f} ({100 * gflops / peak:.0f}%)"


def main_parent(args: argparse.Namespace) -> None:
    from unet3d_monai.inference import native_cpu_bfloat16
    from unet3d_monai.runtime import resolve_threads

    threads = resolve_threads("auto") or torch.get_num_threads()
    torch.set_num_threads(threads)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, {threads} threads, "
        f"torch {torch.__version__}, native bfloat16: {native_cpu_bfloat16()}"
    )
    peaks = {"float32": matmul_peak_gflops(torch.float32), "bfloat16": matmul_peak_gflops(torch.bfloat16)}
    flops = count_flops(args.window, args.patch)
    print(
        f"matmul peak {MATMUL_SIZE}x{MATMUL_SIZE}: float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 "
        f"{peaks['bfloat16']:.0f} GFLOP/s"
    )
    print(
        f"FLOPs: prediction window {'x'.join(map(str, args.window))} {flops['window'] / 1e9:.0f} GFLOP; training "
        f"step {'x'.join(map(str, args.patch))} {flops['step'] / 1e9:.0f} GFLOP (forward + backward)"
    )
    results: dict[str, Any] = {"peaks_gflops": peaks, "flops": flops, "threads": threads, "configs": {}}

    print("\n| configuration | prediction s/window | GFLOP/s (share of peak) | training s/step | GFLOP/s (share) |")
    print("|---|---|---|---|---|")
    for name in CONFIGS if args.configs == "all" else [EARLIER, DEFAULTS]:
        measured = run_child("windows", args, ["--config", name])
        results["configs"][name] = measured
        if "error" in measured:
            print(f"| {name} | failed: {measured['error']} | | | |")
            continue
        peak = peaks["bfloat16" if CONFIGS[name][2] else "float32"]
        window_gflops = flops["window"] / measured["window_s"] / 1e9
        step_gflops = flops["step"] / measured["step_s"] / 1e9
        print(
            f"| {name} | {measured['window_s']:.2f} | {share(window_gflops, peak)} | {measured['step_s']:.2f} | "
            f"{share(step_gflops, peak)} |"
        )

    tried = results["configs"].get(DEFAULTS, {})
    if tried and "error" not in tried:
        print("\nTried on top of the defaults (kept only where faster; the bundles keep batch 1 and eager mode):")
        base_w, base_s = tried["window_s"], tried["step_s"]
        if "window_s_batch2" in tried:
            print(f"- 2 windows per forward pass: {tried['window_s_batch2']:.2f} s/window (batch 1: {base_w:.2f})")
        if "compile_error" in tried:
            print(f"- torch.compile: failed, {tried['compile_error']}")
        elif "window_s_compiled" in tried:
            print(
                f"- torch.compile, prediction: {tried['window_s_compiled']:.2f} s/window (eager {base_w:.2f}), "
                f"compiling took {tried['compile_predict_s']:.0f} s"
            )
            print(
                f"- torch.compile, training: {tried['step_s_compiled']:.2f} s/step (eager {base_s:.2f}), "
                f"compiling took {tried['compile_train_s']:.0f} s"
            )

    if "bundle" not in args.skip:
        bundle_runs(args, flops, peaks, results)
    if torch.cuda.is_available() and "cuda" not in args.skip:
        cuda = run_child("cuda", args, ["--cuda_batch", str(args.cuda_batch)])
        results["cuda"] = cuda
        print_cuda(cuda, flops)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def bundle_runs(args: argparse.Namespace, flops: dict[str, int], peaks: dict[str, float], results: dict) -> None:
    from unet3d_monai.inference.splitter import window_starts

    shape = bundle_volume_shape(args.window, [1, 2, 1] if args.quick else [2, 2, 2])
    windows = math.prod(len(window_starts(size, window, 0.25)) for size, window in zip(shape, args.window))
    print(
        f"\nWhole bundle runs (bundles/boundary/inference.json, {'x'.join(map(str, shape))} float32 volume, "
        f"{windows} windows; start-up, reading and writing included):\n"
    )
    print("| configuration | mode | seconds | GFLOP/s (share) | run / sum of its windows | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    results["bundle"] = {"shape": shape, "windows": windows, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="throughput_") as work:
        volume, ckpt = prepare_bundle_inputs(Path(work), shape)
        for name in (EARLIER, DEFAULTS):
            for mode in ("in memory", "block-wise"):
                extra = ["--config", name, "--input", str(volume), "--ckpt", str(ckpt)]
                extra += ["--output_dir", str(Path(work) / "out"), "--blockwise", str(mode == "block-wise").lower()]
                run = run_child("bundle", args, extra)
                results["bundle"]["runs"][f"{name}, {mode}"] = run
                if "error" in run:
                    print(f"| {name} | {mode} | failed: {run['error']} | | | |")
                    continue
                per_window = results["configs"].get(name, {}).get("window_s")
                ratio = f"{run['total_s'] / (windows * per_window):.2f}" if per_window else "-"
                peak = peaks["bfloat16" if CONFIGS[name][2] else "float32"]
                gflops = windows * flops["window"] / run["total_s"] / 1e9
                print(
                    f"| {name} | {mode} | {run['total_s']:.1f} | {share(gflops, peak)} | {ratio} | "
                    f"{run['peak_rss_mib']:.0f} |"
                )


def print_cuda(cuda: dict[str, Any], flops: dict[str, int]) -> None:
    if "error" in cuda:
        print(f"\nCUDA: failed, {cuda['error']}")
        return
    print(
        f"\nCUDA ({cuda['device_name']}): matmul peak float32 {cuda['peak_float32_tflops']:.0f}, bfloat16 "
        f"{cuda['peak_bfloat16_tflops']:.0f}, float16 {cuda['peak_float16_tflops']:.0f} TFLOP/s\n"
    )
    print("| configuration | s/window | TFLOP/s (share of peak) | s/step | TFLOP/s (share) |")
    print("|---|---|---|---|---|")
    for name, peak_key in (
        ("float32", "peak_float32_tflops"),
        ("amp+channels_last+cudnn_benchmark", "peak_float16_tflops"),
    ):
        window_s, step_s = cuda[f"window_s_{name}"], cuda[f"step_s_{name}"]
        peak = cuda[peak_key]
        window_t, step_t = flops["window"] / window_s / 1e12, flops["step"] / step_s / 1e12
        print(
            f"| {name} | {window_s:.4f} | {window_t:.1f} ({100 * window_t / peak:.0f}%) | {step_s:.4f} | "
            f"{step_t:.1f} ({100 * step_t / peak:.0f}%) |"
        )


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--quick", action="store_true", help="2 windows, 3 steps per configuration, 2-window volume")
    cli.add_argument("--window", type=int, nargs=3, default=[80, 170, 170], help="prediction window (Z Y X)")
    cli.add_argument("--patch", type=int, nargs=3, default=[32, 96, 96], help="training patch (Z Y X)")
    cli.add_argument("--windows", type=int, default=None, help="timed windows per configuration (default 6)")
    cli.add_argument("--steps", type=int, default=None, help="timed training steps per configuration (default 10)")
    cli.add_argument("--configs", choices=["all", "ends"], default="all", help="all rows, or earlier and defaults")
    cli.add_argument(
        "--skip", nargs="*", default=[], choices=["batch2", "compile", "bundle", "cuda"], help="parts to leave out"
    )
    cli.add_argument("--cuda_batch", type=int, default=2, help="windows per forward pass on CUDA")
    cli.add_argument("--json", default=None, help="also write every figure to this JSON file")
    # the children
    cli.add_argument("--child", choices=["windows", "bundle", "cuda"], help=argparse.SUPPRESS)
    cli.add_argument("--config", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    cli.add_argument("--input", help=argparse.SUPPRESS)
    cli.add_argument("--ckpt", help=argparse.SUPPRESS)
    cli.add_argument("--output_dir", help=argparse.SUPPRESS)
    cli.add_argument("--blockwise", default="false", help=argparse.SUPPRESS)
    args = cli.parse_args()
    args.windows = args.windows or (2 if args.quick else 6)
    args.steps = args.steps or (3 if args.quick else 10)
    if args.child is None:
        main_parent(args)
        return
    from unet3d_monai.runtime import resolve_threads

    threads = resolve_threads("auto")
    if threads:
        torch.set_num_threads(threads)
    child = {"windows": child_windows, "bundle": child_bundle, "cuda": child_cuda}[args.child]
    result = child(args)
    print(json.dumps({key: (round(v, 4) if isinstance(v, float) else v) for key, v in result.items()}))


if __name__ == "__main__":
    main()
