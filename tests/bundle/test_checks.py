import math

import pytest
import torch

from unet3d_monai.bundle import check_inference_options, check_training_options, check_training_outputs
from unet3d_monai.bundle.checks import (
    available_devices,
    check_choice,
    check_device,
    check_integer,
    check_number,
    check_window_size,
)

TRAINING = dict(
    epochs=10, epoch_length=20, val_interval=2, patch_size=[32, 64, 64], batch_size=1, num_workers=1,
    learning_rate=0.001, device=torch.device("cpu"),
)  # fmt: skip


def test_integers():
    assert check_integer(3, "epochs", 1) == 3 and check_integer(4.0, "epochs", 1) == 4
    assert check_integer(0, "num_workers", 0) == 0
    for bad in (0, -2, 2.5, "3", True, None, math.inf):
        with pytest.raises(ValueError, match=r"^--epochs must be a whole number of at least 1, got "):
            check_integer(bad, "epochs", 1)


def test_numbers():
    assert check_number(0, "learning_rate", 0.0) == 0.0
    assert check_number(0.999, "overlap", 0.0, 1.0, include_maximum=False) == 0.999
    with pytest.raises(ValueError, match=r"^--overlap must be a number in \[0, 1\), got 1\.0\.$"):
        check_number(1.0, "overlap", 0.0, 1.0, include_maximum=False)
    with pytest.raises(ValueError, match=r"^--learning_rate must be a number of at least 0, got -1\.$"):
        check_number(-1, "learning_rate", 0.0)
    for bad in (math.nan, math.inf, "0.1", None, False):
        with pytest.raises(ValueError, match="--threshold must be a number that is finite"):
            check_number(bad, "threshold")


def test_choices_windows_and_overlap():
    assert check_choice("uint8", "output_dtype", ["float32", "uint8"]) == "uint8"
    with pytest.raises(ValueError, match=r"^--output_dtype must be one of float32, uint8, got 'UINT8'\.$"):
        check_choice("UINT8", "output_dtype", ["float32", "uint8"])
    assert check_window_size([1, 256, 256], "roi_size") == (1, 256, 256)
    assert check_window_size((128, 128), "patch_size") == (128, 128)
    with pytest.raises(ValueError, match=r"^--roi_size \[1, 2, 3, 4\] has 4 values; expected 2 or 3"):
        check_window_size([1, 2, 3, 4], "roi_size")
    for bad in (64, "64", [0, 64, 64], [32.5, 64, 64], []):
        with pytest.raises(ValueError, match="^--patch_size must be a"):
            check_window_size(bad, "patch_size")


def test_devices():
    assert available_devices()[0] == "cpu"
    assert check_device("cpu") == torch.device("cpu") and check_device(torch.device("cpu")).type == "cpu"
    with pytest.raises(ValueError, match=r"^--device 'gpu' is not a device name; expected one of cpu"):
        check_device("gpu")
    with pytest.raises(ValueError) as info:
        check_device("cuda:99")
    message = str(info.value)
    assert message.startswith("--device 'cuda:99' is not available on this machine")
    assert message.endswith(f"available: {', '.join(available_devices())}.")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="^--device 'cuda' is not available on this machine"):
            check_device("cuda")
    else:
        assert check_device("cuda").type == "cuda"


def test_training_options():
    check_training_options(**TRAINING)
    check_training_options(**{**TRAINING, "patch_size": [128, 128], "val_roi_size": [256, 256], "learning_rate": 0})
    cases = {
        "epochs": (0, "--epochs"),
        "epoch_length": (-3, "--epoch_length"),
        "val_interval": (1.5, "--val_interval"),
        "batch_size": (0, "--batch_size"),
        "num_workers": (-1, "--num_workers"),
        "learning_rate": (-1, "--learning_rate"),
        "device": ("cuda:99", "--device"),
        "weight_decay": (math.nan, "--weight_decay"),
        "cpu_bf16": ("perhaps", "--cpu_bf16"),
        "seed": (-1, "--seed"),
        "out_channels": (0, "--out_channels"),
        "val_roi_size": ([64, 64], "--val_roi_size"),
    }
    for name, (value, option) in cases.items():
        with pytest.raises(ValueError, match=f"^{option} "):
            check_training_options(**{**TRAINING, name: value})


def test_pretrained_checkpoint_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^--pretrained_ckpt '.*nothing\.pt' does not exist\.$"):
        check_training_options(**TRAINING, pretrained_ckpt=str(tmp_path / "nothing.pt"))
    with pytest.raises(FileNotFoundError, match="is a folder, not a file"):
        check_training_options(**TRAINING, pretrained_ckpt=str(tmp_path))


def test_earlier_weights_are_kept_unless_told(tmp_path):
    ckpt, logs = tmp_path / "models", tmp_path / "logs"
    check_training_outputs(ckpt, logs, False, False)  # nothing there yet
    assert not ckpt.exists() and not logs.exists()  # and nothing was created
    ckpt.mkdir()
    (ckpt / "notes.txt").write_text("other files do not count")
    check_training_outputs(ckpt, logs, "false", "false")
    (ckpt / "last.pt").write_bytes(b"state")
    with pytest.raises(FileExistsError) as info:
        check_training_outputs(ckpt, logs, False, False)
    assert str(info.value) == (
        f"--ckpt_dir '{ckpt}' already holds last.pt from an earlier run; pass --resume true to continue that run, "
        "--overwrite true to replace its weights, or choose another --ckpt_dir."
    )
    (ckpt / "model.pt").write_bytes(b"weights")
    with pytest.raises(FileExistsError, match="already holds model.pt and last.pt"):
        check_training_outputs(ckpt, logs, False, False)
    check_training_outputs(ckpt, logs, "true", False)
    check_training_outputs(ckpt, logs, False, "true")
    with pytest.raises(ValueError, match="pass only one of them"):
        check_training_outputs(ckpt, logs, True, True)


def test_inference_options(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"weights")
    (tmp_path / "in.h5").write_bytes(b"")
    good = dict(
        input=str(tmp_path / "in.h5"), ckpt_path=str(tmp_path / "model.pt"), output_dir=str(tmp_path / "out"),
        device="cpu", roi_size=[80, 170, 170], overlap=0.25, sw_batch_size=1,
    )  # fmt: skip
    check_inference_options(**good)
    check_inference_options(**{**good, "block_shape": [64, 128, 128], "amp": "false", "output_dtype": "uint8"})
    cases = {
        "overlap": ([0.25, 1.0, 0.25], "--overlap"),
        "roi_size": ([0, 64, 64], "--roi_size"),
        "sw_batch_size": (0, "--sw_batch_size"),
        "normalization": ("zscore", "--normalization"),
        "output_dtype": ("float64", "--output_dtype"),
        "segmentation_mode": ("watershed", "--segmentation_mode"),
        "threshold": (math.nan, "--threshold"),
        "min_size": (-1, "--min_size"),
        "block_shape": ([64, 64], "--block_shape"),
        "amp": ("auto", "--amp"),
        "blockwise": ("always", "--blockwise"),
    }
    for name, (value, option) in cases.items():
        with pytest.raises(ValueError, match=f"^{option} "):
            check_inference_options(**{**good, name: value})
    with pytest.raises(FileNotFoundError, match="^--ckpt_path "):
        check_inference_options(**{**good, "ckpt_path": str(tmp_path / "missing.pt")})
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        check_inference_options(**{**good, "input": str(tmp_path / "missing.h5")})
    with pytest.raises(NotADirectoryError, match="^--output_dir "):
        check_inference_options(**{**good, "output_dir": str(tmp_path / "model.pt" / "out")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.h5", "model.pt"]


def test_planned_patch_and_batch_pass_the_checks():
    check_training_options(**{**TRAINING, "patch_size": "auto", "batch_size": "auto", "val_roi_size": [32, 64, 64]})
    with pytest.raises(ValueError, match="batch_size"):
        check_training_options(**{**TRAINING, "patch_size": "auto", "batch_size": "many"})
