"""Generated data cases of the quality benchmark: the bundle's sample data as generated, or turned into a thin
slab, an anisotropic stack, test volumes at twice the training object scale, or (membrane bundles) membranes
without patches of weak or missing stain."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage

from unet3d_monai.data.sample import TASKS

CASES = ("default", "thin_slab", "anisotropic", "scale2x", "continuous_membranes")
THIN = 45
Z_FACTOR = 4
SCALE = 2

# the training bundles' defaults before the plan: what "fixed defaults" trains with
FIXED_TRAIN_ARGS = {
    "dsb2018_2d": ["--patch_size", "[128,128]", "--batch_size", "8"],
}
FIXED_COMMON = ["--normalization", "standardize", "--pool_kernel_size", "2"]
FIXED_PREDICT_ARGS = ["--rescale", "false"]


def fixed_train_args(bundle: str) -> list[str]:
    """Training options that pin every planned entry to the bundle's former fixed default."""
    return FIXED_TRAIN_ARGS.get(bundle, ["--patch_size", "[32,96,96]", "--batch_size", "1"]) + FIXED_COMMON


def _rewrite(path: Path, raw: np.ndarray, label: np.ndarray, voxel_size: list[float]) -> None:
    with h5py.File(path, "r") as f:
        file_attrs = dict(f.attrs)
    with h5py.File(path, "w") as f:
        f.attrs.update(file_attrs)
        f.create_dataset("raw", data=raw, compression="gzip")
        f.create_dataset("label", data=label, compression="gzip")
        f["raw"].attrs["element_size_um"] = voxel_size


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, list[float]]:
    with h5py.File(path, "r") as f:
        voxel = f["raw"].attrs.get("element_size_um", [1.0] * f["raw"].ndim)
        return f["raw"][()], f["label"][()], [float(v) for v in voxel]


def prepare_case(case: str, bundle: str, data_dir: Path, seed: int, log: Path) -> str:
    """Turn the freshly generated ``data_dir`` into ``case``; returns a one-line description."""
    if case == "default":
        return "sample data as generated"
    files = sorted(data_dir.glob("*/*.h5"))
    if case == "continuous_membranes":
        if not TASKS[bundle].membrane_gaps:
            membrane_bundles = [name for name, task in TASKS.items() if task.membrane_gaps]
            raise ValueError(f"case continuous_membranes is for the membrane bundles {membrane_bundles}, not {bundle}")
        # the same cells, rendered without the membrane gaps
        command = [sys.executable, "-m", "unet3d_monai.data.sample", bundle, str(data_dir), "--seed", str(seed),
                   "--overwrite", "--no_membrane_gaps"]  # fmt: skip
        with open(log, "a") as handle:
            subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT)
        return "membranes without patches of weak or missing stain (the same cells)"
    if case == "thin_slab":
        raw, _, _ = _read(files[0])
        shape = list(raw.shape[-3:])
        shape[-2] = THIN
        for split in ("train", "val", "test"):
            shutil.rmtree(data_dir / split, ignore_errors=True)
        command = [sys.executable, "-m", "unet3d_monai.data.sample", bundle, str(data_dir), "--seed", str(seed),
                   "--overwrite", "--shape", *map(str, shape)]  # fmt: skip
        with open(log, "a") as handle:
            subprocess.run(command, check=True, stdout=handle, stderr=subprocess.STDOUT)
        return f"volumes {shape}: {THIN} voxels along y"
    if case == "anisotropic":
        for path in files:
            raw, label, voxel = _read(path)
            # a coarse z: each kept slice averages the Z_FACTOR slices it stands for, and its label is the label of
            # the middle one of them (the first one would put the labels half a coarse voxel off the image)
            depth = raw.shape[-3] // Z_FACTOR * Z_FACTOR
            keep = (slice(None),) * (raw.ndim - 3) + (slice(Z_FACTOR // 2, depth, Z_FACTOR),)
            coarse = raw[..., :depth, :, :].reshape(*raw.shape[:-3], depth // Z_FACTOR, Z_FACTOR, *raw.shape[-2:])
            _rewrite(path, coarse.mean(axis=-3).astype(raw.dtype), label[keep][..., : depth // Z_FACTOR, :, :],
                     [voxel[-3] * Z_FACTOR, *voxel[-2:]])  # fmt: skip
        return f"z voxels {Z_FACTOR}x longer (every {Z_FACTOR} slices averaged into one)"
    if case == "scale2x":
        for path in sorted((data_dir / "test").glob("*.h5")):
            raw, label, voxel = _read(path)
            zoom = [1] * (raw.ndim - 3) + [SCALE] * 3
            if raw.shape[-3] == 1:  # 2D data stored (1, Y, X)
                zoom[-3] = 1
            bigger = ndimage.zoom(raw, zoom, order=1).astype(raw.dtype)
            labels = ndimage.zoom(label, zoom[-label.ndim :], order=0)
            _rewrite(path, bigger, labels, [v / z for v, z in zip(voxel[-3:], zoom[-3:])])
        return f"test volumes {SCALE}x finer sampled (objects {SCALE}x larger in voxels), voxel size recorded"
    raise ValueError(f"unknown case {case!r}; expected one of {CASES}")
