"""Instance segmentation of probability maps: in memory against block-wise (in this process and on Dask), with time,
peak memory and the adapted Rand error between them (scikit-image's ``adapted_rand_error``).

Part ``timing``: a 128x384x384 boundary probability map (membranes of random Voronoi cells, smoothed) is segmented
with ``boundary_distance_watershed`` and a 64x384x384 foreground map (touching spheres) with
``foreground_watershed``, each by ``unet3d-monai segment`` in memory, block-wise in this process and block-wise on
``local:2``. Part ``memory``: a 1 GiB float32 foreground map (256x1024x1024, the sphere map tiled) segmented
block-wise; its peak resident memory. Each run is its own ``unet3d-monai segment`` process (``ru_maxrss`` of that
child). Figures only, never pass/fail.

Usage::

    python benchmarks/segment.py                       # both parts
    python benchmarks/segment.py --part timing
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work" / "segment"


def _cells(shape: tuple[int, ...], count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    seeds = np.zeros(shape, dtype=np.int32)
    seeds[tuple(rng.integers(0, shape, size=(count, 3)).T)] = np.arange(1, count + 1)
    _, nearest = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    walls = ndimage.morphological_gradient(seeds[tuple(nearest)], size=3) > 0
    return np.clip(ndimage.gaussian_filter(walls.astype(np.float32), 1.0) * 2, 0, 1)


def _spheres(shape: tuple[int, ...], count: int, radius: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, dtype=bool)
    centres = rng.integers(radius, np.array(shape) - radius, size=(count, 3))
    ball = np.sum(np.square(np.indices((2 * radius + 1,) * 3) - radius), axis=0) <= radius**2
    for c in centres:
        index = tuple(slice(int(x) - radius, int(x) + radius + 1) for x in c)
        mask[index] |= ball
    return ndimage.gaussian_filter(mask.astype(np.float32), 1.0)


def _write(path: Path, probabilities: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("predictions", data=probabilities[None], chunks=(1, 32, 128, 128))


# runs a command and prints the largest resident memory of it and its descendants (its own ``RUSAGE_CHILDREN``)
_MEASURE = (
    "import json, resource, subprocess, sys; result = subprocess.run(sys.argv[1:]);"
    "print(json.dumps({'code': result.returncode,"
    " 'peak_rss_mib': round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}))"
)


def _segment(args: list[str]) -> dict:
    """One ``unet3d-monai segment`` in a child process: wall seconds and the largest resident memory of a process."""
    command = [sys.executable, "-c", "from unet3d_monai.compat.cli import main; raise SystemExit(main())", "segment"]
    command += [*args, "--overwrite", "--progress", "false"]
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    if measured["code"] != 0:
        raise RuntimeError(result.stderr[-2000:])
    return {"seconds": round(seconds, 1), "peak_rss_mib": measured["peak_rss_mib"]}


def _labels(path: Path) -> np.ndarray:
    if path.suffix == ".zarr":
        import zarr

        return zarr.open_array(str(path), path="segmentation", mode="r")[...]
    with h5py.File(path, "r") as f:
        return f["segmentation"][()]


def timing() -> None:
    from skimage.metrics import adapted_rand_error

    # mode: (map, options, largest object in voxels, blocks)
    cases = {
        "boundary_distance_watershed": (_cells((128, 384, 384), 600), ["--min_distance", "3"], 40, (128, 128, 128)),
        "foreground_watershed": (_spheres((64, 384, 384), 1500, 6), ["--min_distance", "3"], 14, (48, 96, 96)),
    }
    for mode, (probabilities, options, size, block_shape) in cases.items():
        path = WORK / f"{mode}.h5"
        _write(path, probabilities)
        base = ["--input", str(path), "--mode", mode, *options, "--object_size", str(size)]
        blocks = ["--block_shape", *map(str, block_shape)]
        runs = {
            "in memory": _segment([*base, "--output", str(WORK / f"{mode}_memory.h5")]),
            "block-wise": _segment([*base, "--output", str(WORK / f"{mode}_blocks.h5"), *blocks]),
            "block-wise, local:2": _segment(
                [*base, "--output", str(WORK / f"{mode}_dask.h5"), *blocks, "--scheduler", "local:2"]
            ),
        }
        memory = _labels(WORK / f"{mode}_memory.h5").astype(np.int64)
        for name, run in runs.items():
            suffix = {"in memory": "memory", "block-wise": "blocks", "block-wise, local:2": "dask"}[name]
            error = adapted_rand_error(memory, _labels(WORK / f"{mode}_{suffix}.h5").astype(np.int64))[0]
            print(
                f"{mode} {'x'.join(map(str, probabilities.shape))}, {name} (blocks {block_shape}): {run['seconds']} s, "
                f"peak {run['peak_rss_mib']} MiB, ARand against in memory {error:.4f}"
            )


def prediction() -> None:
    """The boundary bundle predicting a 128x384x384 volume (its default network, UNet3D f_maps 32, random weights),
    timed as a user runs it: the time the segmentation above is measured against."""
    import torch
    from monai.bundle import ConfigParser

    bundle = ROOT / "bundles" / "boundary" / "inference.json"
    parser = ConfigParser()
    parser.read_config(str(bundle))
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), WORK / "model.pt")
    with h5py.File(WORK / "raw.h5", "w") as f:
        f["raw"] = np.random.default_rng(0).random((128, 384, 384), dtype=np.float32)
    command = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        str(bundle),
        "--input",
        str(WORK / "raw.h5"),
    ]
    command += ["--ckpt_path", str(WORK / "model.pt"), "--output_dir", str(WORK / "predicted"), "--overwrite", "true"]
    command += ["--device", "cpu", "--progress", "false", "--roi_size", "[80,170,170]"]
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    if measured["code"] != 0:
        raise RuntimeError(result.stderr[-2000:])
    print(
        f"prediction of 128x384x384 (boundary bundle, UNet3D f_maps 32, window 80x170x170, in memory): "
        f"{seconds:.1f} s, peak {measured['peak_rss_mib']} MiB"
    )


def memory() -> None:
    tile = _spheres((64, 256, 256), 400, 6)
    shape = (256, 1024, 1024)
    path = WORK / "large.h5"
    with h5py.File(path, "w") as f:
        stored = f.create_dataset("predictions", shape=(1, *shape), dtype="float32", chunks=(1, 32, 128, 128))
        for z in range(0, shape[0], 64):
            stored[0, z : z + 64] = np.tile(tile, (1, 4, 4))
    run = _segment(
        ["--input", str(path), "--output", str(WORK / "large_labels.h5"), "--mode", "foreground_watershed",
         "--min_distance", "3", "--object_size", "14", "--block_shape", "64", "256", "256"]
    )  # fmt: skip
    print(f"foreground_watershed 256x1024x1024 (1 GiB float32), block-wise 64x256x256: {run['seconds']} s, "
          f"peak {run['peak_rss_mib']} MiB")  # fmt: skip


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--part", choices=["all", "timing", "prediction", "memory"], default="all")
    args = cli.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.part in ("all", "timing"):
        timing()
    if args.part in ("all", "prediction"):
        prediction()
    if args.part in ("all", "memory"):
        memory()


if __name__ == "__main__":
    main()
