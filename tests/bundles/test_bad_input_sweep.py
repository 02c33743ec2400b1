"""Bad input, tried the way users try it: the training bundle, the inference bundle (on the command line and from
Python) and the Python API. For every case: the run fails (exit status 1 on the command line), the explanation is
one sentence naming the option, file or key, no traceback is printed, and no file or folder was created, changed
or left half-written (a listing with checksums of the work folder and of the bundle folder, before and after)."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.bundle import run as run_bundle
from monai.inferers import SlidingWindowInferer

from unet3d_monai.bundle import check_finite_volumes, check_training_outputs, explain
from unet3d_monai.compat import load_network_weights
from unet3d_monai.data import HDF5PatchDataset, RandomHDF5PatchDataset
from unet3d_monai.data.sample import write_sample_dataset
from unet3d_monai.inference import VolumePredictor, predict_file
from unet3d_monai.networks import UNet3D

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bundles" / "boundary"
SMALL_TRAIN = {"network_def#f_maps": 8, "patch_size": [16, 32, 32]}
SMALL_NET = {"network_def#f_maps": 4, "network_def#num_groups": 2}
HUGE_SHAPE = (32768, 32768, 32768)  # 128 TiB of float32 predictions, stored as an empty chunked dataset


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """The work folder: a good dataset, damaged copies, a checkpoint, earlier weights and outputs."""
    root = tmp_path_factory.mktemp("sweep")
    write_sample_dataset("boundary", root / "ds", shape=(16, 40, 40), n_train=1, n_val=1, n_test=1)
    shutil.copytree(root / "ds", root / "ds_nan")
    with h5py.File(root / "ds_nan" / "train" / "boundary_train_00.h5", "r+") as f:
        raw = f["raw"][()]
        raw[3, 5, 7] = np.nan
        raw[0, 0, :2] = np.inf
        f["raw"][...] = raw
    shutil.copytree(root / "ds", root / "ds_inf_label")
    with h5py.File(root / "ds_inf_label" / "val" / "boundary_val_00.h5", "r+") as f:
        label = f["label"][()].astype(np.float32)
        label[1, 2, 3] = -np.inf
        del f["label"]
        f["label"] = label
    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "inference.json"))
    parser.update(SMALL_NET)
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), root / "model.pt")
    (root / "trained").mkdir()
    (root / "trained" / "model.pt").write_bytes(b"the weights of an earlier run")
    (root / "trained" / "last.pt").write_bytes(b"the training state of an earlier run")
    (root / "done").mkdir()
    (root / "done" / "boundary_test_00_predictions.h5").write_bytes(b"an earlier prediction")
    (root / "a_file").write_text("not a folder")
    (root / "huge").mkdir()
    with h5py.File(root / "huge" / "huge.h5", "w") as f:
        f.create_dataset("raw", shape=HUGE_SHAPE, dtype="uint8", chunks=(64, 64, 64))
    return root


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file and folder under ``roots`` with the SHA-256 of each file."""
    entries = {}
    for root in roots:
        if not root.exists():
            entries[str(root)] = "absent"
            continue
        for path in sorted(root.rglob("*")):
            entries[str(path)] = "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return entries


def assert_one_sentence(message: str | None, names: tuple[str, ...]) -> None:
    assert message, "no explanation"
    assert "\n" not in message and message.endswith("."), message
    assert not re.search(r"\.\s+\w", message), f"more than one sentence: {message}"
    assert "Traceback" not in message
    for name in names:
        assert name in message, (name, message)


@dataclass
class Case:
    """One bad input: ``kind`` is train/infer (the bundle from Python), train-cli/infer-cli (the command line) or
    api (``call(ws)`` must raise)."""

    name: str
    kind: str
    args: dict = field(default_factory=dict)
    names: tuple[str, ...] = ()
    call: Callable | None = None


def _train_args(ws: Path, args: dict) -> dict:
    base = {
        "dataset_dir": str(ws / "ds"),
        "ckpt_dir": str(ws / "run" / "models"),
        "output_dir": str(ws / "run" / "output"),
        "epochs": 1,
        "epoch_length": 1,
        "num_workers": 0,
        **SMALL_TRAIN,
    }
    return {k: v for k, v in {**base, **args}.items() if v is not None}


def _infer_args(ws: Path, args: dict) -> dict:
    base = {
        "input": str(ws / "ds" / "test"),
        "ckpt_path": str(ws / "model.pt"),
        "output_dir": str(ws / "pred"),
        "roi_size": [16, 24, 24],
        "progress": False,
        **SMALL_NET,
    }
    return {k: v for k, v in {**base, **args}.items() if v is not None}


def _network(ws: Path) -> UNet3D:
    return load_network_weights(UNet3D(1, 1, f_maps=4, num_groups=2), ws / "model.pt")


def _predictor(ws: Path, output_dir: Path) -> VolumePredictor:
    inferer = SlidingWindowInferer((16, 24, 24), overlap=0.25, mode="gaussian")
    return VolumePredictor(_network(ws), inferer, output_dir, device="cpu", progress=False)


def _w(ws, *parts):
    return str(Path(ws, *parts))


CASES = [
    # the training bundle on the command line
    Case("train-cli learning rate", "train-cli", {"learning_rate": -1}, ("--learning_rate", "-1")),
    Case(
        "train-cli device",
        "train-cli",
        {"device": "cuda:99", "ckpt_dir": None, "output_dir": None},
        ("--device", "cuda:99", "available"),
    ),
    Case(
        "train-cli earlier weights",
        "train-cli",
        {"ckpt_dir": "{ws}/trained"},
        ("--ckpt_dir", "model.pt", "last.pt", "--resume true", "--overwrite true"),
    ),
    Case(
        "train-cli NaN in training volume",
        "train-cli",
        {"dataset_dir": "{ws}/ds_nan"},
        ("boundary_train_00.h5", "'raw'", "NaN"),
    ),
    # the training bundle from Python
    Case("train patch size", "train", {"patch_size": [0, 64, 64]}, ("--patch_size",)),
    Case("train epochs", "train", {"epochs": 0}, ("--epochs",)),
    Case("train network argument", "train", {"network_def#f_map": 3}, ("network_def", "f_map")),
    Case("train val interval", "train", {"val_interval": 0}, ("--val_interval",)),
    Case("train epoch length", "train", {"epoch_length": 2.5}, ("--epoch_length",)),
    Case("train batch size", "train", {"batch_size": 0}, ("--batch_size",)),
    Case("train workers", "train", {"num_workers": -1}, ("--num_workers",)),
    Case("train weight decay", "train", {"weight_decay": -0.1}, ("--weight_decay",)),
    Case("train learning rate word", "train", {"learning_rate": "fast"}, ("--learning_rate", "fast")),
    Case("train infinite learning rate", "train", {"learning_rate": float("inf")}, ("--learning_rate",)),
    Case("train validation roi", "train", {"val_roi_size": [16, 32]}, ("--val_roi_size",)),
    Case("train flag", "train", {"val_at_start": "maybe"}, ("--val_at_start", "maybe")),
    Case("train device name", "train", {"device": "gpu"}, ("--device", "gpu")),
    Case("train channels", "train", {"in_channels": 0}, ("--in_channels",)),
    Case("train resume without state", "train", {"resume": True}, ("--resume true", "last.pt")),
    Case("train resume and overwrite", "train", {"resume": True, "overwrite": True}, ("--resume", "--overwrite")),
    Case(
        "train missing pretrained", "train", {"pretrained_ckpt": "{ws}/nothing.pt"}, ("--pretrained_ckpt", "nothing.pt")
    ),
    Case("train pretrained of another size", "train", {"pretrained_ckpt": "{ws}/model.pt"}, ("model.pt", "f_maps")),
    Case(
        "train damaged pretrained",
        "train",
        {"pretrained_ckpt": "{ws}/trained/model.pt"},
        ("trained/model.pt", "is not a readable checkpoint", "expected network weights"),
    ),
    Case("train missing dataset", "train", {"dataset_dir": "{ws}/nowhere"}, ("nowhere",)),
    Case("train missing label key", "train", {"label_key": "labels"}, ("'labels'", "boundary_train_00.h5")),
    Case(
        "train Inf in validation label",
        "train",
        {"dataset_dir": "{ws}/ds_inf_label"},
        ("boundary_val_00.h5", "'label'", "Inf"),
    ),
    Case("train checkpoint folder under a file", "train", {"ckpt_dir": "{ws}/a_file/models"}, ("--ckpt_dir", "a_file")),
    Case("train output folder under a file", "train", {"output_dir": "{ws}/a_file/logs"}, ("--output_dir", "a_file")),
    # the inference bundle on the command line
    Case("infer-cli overlap", "infer-cli", {"overlap": 1.0}, ("--overlap",)),
    Case("infer-cli device", "infer-cli", {"device": "cuda:99"}, ("--device", "cuda:99")),
    # the inference bundle from Python
    Case("infer missing checkpoint", "infer", {"ckpt_path": "{ws}/missing.pt"}, ("--ckpt_path", "missing.pt")),
    Case(
        "infer-cli damaged checkpoint",
        "infer-cli",
        {"ckpt_path": "{ws}/trained/model.pt"},
        ("trained/model.pt", "is not a readable checkpoint", "expected network weights"),
    ),
    Case("infer missing input", "infer", {"input": "{ws}/missing.h5"}, ("missing.h5",)),
    Case("infer roi size", "infer", {"roi_size": "big"}, ("--roi_size", "big")),
    Case("infer zero-length roi", "infer", {"roi_size": []}, ("--roi_size",)),
    Case("infer output dtype", "infer", {"output_dtype": "float64"}, ("--output_dtype", "float64", "uint8")),
    Case("infer window batch", "infer", {"sw_batch_size": 0}, ("--sw_batch_size",)),
    Case("infer segmentation mode", "infer", {"segmentation_mode": "watershed"}, ("--segmentation_mode", "watershed")),
    Case("infer normalization", "infer", {"normalization": "zscore"}, ("--normalization", "zscore")),
    Case("infer flag", "infer", {"tta": "sometimes"}, ("--tta", "sometimes")),
    Case("infer block shape", "infer", {"block_shape": [8, -1, 8]}, ("--block_shape",)),
    Case(
        "infer existing output",
        "infer",
        {"output_dir": "{ws}/done"},
        ("boundary_test_00_predictions.h5", "already exists", "--overwrite true"),
    ),
    Case("infer output folder under a file", "infer", {"output_dir": "{ws}/a_file/pred"}, ("--output_dir", "a_file")),
    Case("infer no room for the outputs", "infer", {"input": "{ws}/huge/huge.h5"}, ("output_dir", "free", "TiB")),
    # the Python API
    Case(
        "api missing input",
        "api",
        names=("missing.h5", "does not exist"),
        call=lambda ws: predict_file(_network(ws), _w(ws, "missing.h5"), _w(ws, "pred"), roi_size=(16, 24, 24)),
    ),
    Case(
        "api no room for the outputs",
        "api",
        names=("output_dir", "free"),
        call=lambda ws: predict_file(_network(ws), _w(ws, "huge", "huge.h5"), _w(ws, "pred"), roi_size=(16, 24, 24)),
    ),
    Case(
        "api existing output",
        "api",
        names=("boundary_test_00_predictions.h5", "already exists"),
        call=lambda ws: _predictor(ws, Path(ws, "done")).run(_w(ws, "ds", "test")),
    ),
    Case(
        "api output folder under a file",
        "api",
        names=("output_dir", "a_file"),
        call=lambda ws: _predictor(ws, Path(ws, "a_file", "pred")).run(_w(ws, "ds", "test")),
    ),
    Case(
        "api wrong architecture",
        "api",
        names=("model.pt", "f_maps"),
        call=lambda ws: load_network_weights(UNet3D(1, 1, f_maps=8, num_groups=2), Path(ws, "model.pt")),
    ),
    Case(
        "api NaN in a volume",
        "api",
        names=("boundary_train_00.h5", "'raw'", "NaN"),
        call=lambda ws: check_finite_volumes([Path(ws, "ds_nan", "train", "boundary_train_00.h5")], "raw", "label"),
    ),
    Case(
        "api missing key",
        "api",
        names=("'volume'", "'raw'"),
        call=lambda ws: HDF5PatchDataset(Path(ws, "ds", "train"), (8, 8, 8), raw_key="volume"),
    ),
    Case(
        "api patch size",
        "api",
        names=("patch_size",),
        call=lambda ws: RandomHDF5PatchDataset(Path(ws, "ds", "train"), (0, 8, 8), num_samples=1),
    ),
    Case(
        "api earlier weights",
        "api",
        names=("trained", "--resume true"),
        call=lambda ws: check_training_outputs(Path(ws, "trained"), Path(ws, "out"), False, False),
    ),
]


def _fill(args: dict, ws: Path) -> dict:
    return {k: v.format(ws=ws) if isinstance(v, str) else v for k, v in args.items()}


def _command_line(config: str, args: dict, run_id: str | None) -> list[str]:
    command = [sys.executable, "-m", "monai.bundle", "run", *([run_id] if run_id else []), "--config_file", config]
    for key, value in args.items():
        command += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return command


def test_the_sweep_has_enough_cases():
    kinds = {case.kind.split("-")[0] for case in CASES}
    assert len(CASES) >= 25 and kinds == {"train", "infer", "api"}
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_sentence_and_leaves_no_trace(case, ws):
    before = snapshot(ws, BUNDLE)
    if case.kind.startswith("train"):
        config, run_id, args = str(BUNDLE / "train.json"), "training", _train_args(ws, _fill(case.args, ws))
    elif case.kind.startswith("infer"):
        config, run_id, args = str(BUNDLE / "inference.json"), None, _infer_args(ws, _fill(case.args, ws))
    if case.kind.endswith("-cli"):
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("UNET3D_MONAI_TRACEBACK", None)
        result = subprocess.run(
            _command_line(config, args, run_id), cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
        )
        assert result.returncode == 1, result.stderr[-2000:]
        assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
        errors = [line[len("error: ") :] for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.stderr[-2000:]
        message = errors[0]
    else:
        with pytest.raises(Exception) as info:
            if case.kind == "api":
                case.call(ws)
            else:
                run_bundle(run_id, config_file=config, **args)
        message = explain(info.value)
        if case.kind == "api":
            assert message == str(info.value)  # the error itself is the sentence, raised by this package
    assert_one_sentence(message, case.names)
    assert snapshot(ws, BUNDLE) == before
