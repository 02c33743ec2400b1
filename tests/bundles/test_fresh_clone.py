"""The training bundles as a fresh clone has them: no ``data/``, ``models/`` or ``output/`` in the bundle folder.

The default command generates the sample dataset and trains on it; nothing that needs the dataset is resolved
before the dataset exists, and an option that is wrong still stops the run before any data is generated."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from monai.bundle import run as run_bundle

from unet3d_monai.bundle import explain
from unet3d_monai.data.sample import write_sample_dataset

ROOT = Path(__file__).resolve().parents[2]
#: what the bundle files of a clone are: the folder as git tracks it, without what training generates
BUNDLE_FILES = ("train.json", "inference.json", "multi_gpu_train.json", "metadata.json", "logging.conf", "README.md")
#: small enough for a test, and still the bundle's own planning, dataset generation and checkpointing
SHORT = {"epochs": 1, "epoch_length": 2, "val_at_start": False, "num_workers": 0}
SMALL_3D = {"network_def#f_maps": 8, "network_def#num_groups": 2, "patch_size": [16, 32, 32]}
SMALL_2D = {"network_def#f_maps": 8, "network_def#num_groups": 2, "patch_size": [64, 64]}


def pristine_bundle(tmp_path: Path, task: str) -> Path:
    """A copy of ``bundles/<task>`` with only the files a clone has."""
    folder = tmp_path / "bundles" / task
    folder.mkdir(parents=True)
    for name in BUNDLE_FILES:
        shutil.copy2(ROOT / "bundles" / task / name, folder / name)
    return folder


def _train(folder: Path, args: dict, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", str(folder / "train.json")]
    for key, value in args.items():
        command += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("UNET3D_MONAI_TRACEBACK", None)
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.parametrize(("task", "small"), [("boundary", SMALL_3D), ("dsb2018_2d", SMALL_2D)])
def test_the_default_command_trains_in_a_pristine_bundle_folder(tmp_path, task, small):
    folder = pristine_bundle(tmp_path, task)
    result = _train(folder, {**SHORT, **small}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for split in ("train", "val", "test"):
        assert sorted((folder / "data" / split).glob("*.h5")), f"no {split} volumes generated"
    assert (folder / "models" / "model.pt").is_file()
    assert (folder / "models" / "last.pt").is_file()
    state = torch.load(folder / "models" / "last.pt", map_location="cpu", weights_only=True)
    assert state["trainer"]["iteration"] == 2

    # resuming on the default dataset continues the run on the dataset generated above, without generating again
    stamps = {path: path.stat().st_mtime_ns for path in (folder / "data").rglob("*.h5")}
    result = _train(folder, {**SHORT, **small, "epochs": 2, "resume": True}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(folder / "models" / "last.pt", map_location="cpu", weights_only=True)
    assert state["trainer"]["iteration"] == 4
    assert {path: path.stat().st_mtime_ns for path in (folder / "data").rglob("*.h5")} == stamps


def test_a_given_dataset_dir_trains_and_the_bundle_folder_stays_pristine(tmp_path):
    folder = pristine_bundle(tmp_path, "boundary")
    write_sample_dataset("boundary", tmp_path / "mine", shape=(16, 40, 40), n_train=1, n_val=1, n_test=0)
    args = {**SHORT, **SMALL_3D, "dataset_dir": str(tmp_path / "mine"), "epochs": 1, "epoch_length": 1}
    result = _train(folder, args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (folder / "data").exists()
    assert (folder / "models" / "model.pt").is_file()


@pytest.mark.parametrize(
    ("option", "value", "names"),
    [
        ("normalization", "zscore", ("--normalization", "zscore", "standardize")),
        ("voxel_size", [0, 1, 1], ("--voxel_size",)),
        ("pool_kernel_size", [[1, 2, 2]], ("pool_kernel_size", "levels")),
        ("pool_kernel_size", "big", ("pool_kernel_size", "big")),
        ("memory_budget", "lots", ("--memory_budget", "lots")),
        ("step_seconds", -1, ("--step_seconds", "-1")),
    ],
)
def test_a_bad_planning_option_stops_the_run_before_any_data_is_generated(tmp_path, option, value, names):
    folder = pristine_bundle(tmp_path, "boundary")
    with pytest.raises(Exception) as info:
        args = {**SHORT, **SMALL_3D, option: value, "bundle_root": str(folder)}  # run from Python: name the copy
        run_bundle("training", config_file=str(folder / "train.json"), **args)
    message = explain(info.value)
    assert message is not None and "\n" not in message
    for name in names:
        assert name in message, (name, message)
    assert sorted(p.name for p in folder.iterdir()) == sorted(BUNDLE_FILES)


def test_nan_in_a_training_volume_is_refused_before_planning(tmp_path):
    folder = pristine_bundle(tmp_path, "boundary")
    write_sample_dataset("boundary", tmp_path / "nan", shape=(16, 40, 40), n_train=1, n_val=1, n_test=0)
    with h5py.File(tmp_path / "nan" / "train" / "boundary_train_00.h5", "r+") as f:
        raw = f["raw"][()]
        raw[2, 3, 4] = np.nan
        f["raw"][...] = raw
    result = _train(folder, {**SHORT, **SMALL_3D, "dataset_dir": str(tmp_path / "nan")}, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "boundary_train_00.h5" in errors[0] and "NaN" in errors[0], result.stderr[-2000:]
    # refused by the first look at the volumes: no plan was made, no network measured
    assert "Training plan" not in result.stdout + result.stderr
    assert "training step at patch" not in result.stdout + result.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted(BUNDLE_FILES)
