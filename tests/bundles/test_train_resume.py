"""Training stopped at any iteration and resumed ends exactly as the uninterrupted run (CPU, fixed seed); a run
stopped by a signal saves its state and says how to resume; a killed run leaves a recent, loadable last.pt."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from ignite.engine import Events
from monai.bundle import ConfigParser

from tests.bundles._workflow import ROOT, run_training, scalars, training_overrides
from unet3d_monai.data.sample import write_sample_dataset

# a tiny boundary network with dropout, so that the training step itself draws random numbers
TINY = {
    "network_def#f_maps": 4,
    "network_def#num_groups": 2,
    "network_def#layer_order": "gcrd",
    "patch_size": [8, 16, 16],
    "val_roi_size": [16, 32, 32],
}
CONFIG = ROOT / "bundles" / "boundary" / "train.json"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_sample_dataset("boundary", tmp_path_factory.mktemp("data"), shape=(16, 32, 32), n_train=1, n_val=1)


def _overrides(dataset, work, **extra):
    options = {
        "epochs": 2,
        "epoch_length": 3,
        "val_at_start": True,
        "seed": 0,
        # bit-identical resume holds in float32; oneDNN's bfloat16 kernels are not bit-reproducible across runs
        "cpu_bf16": False,
    }
    return training_overrides(dataset, work, {**options, **TINY, **extra})


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory):
    work = tmp_path_factory.mktemp("uninterrupted")
    run_training("boundary", _overrides(dataset, work))
    return work


def _assert_identical(a, b, where="last.pt"):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (where, sorted(a), sorted(b))
        for key in a:
            _assert_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def _interrupt_at(iteration):
    def attach(trainer):
        trainer.add_event_handler(
            Events.ITERATION_STARTED(once=iteration), lambda e: os.kill(os.getpid(), signal.SIGINT)
        )

    return attach


@pytest.mark.parametrize("stop_at", [2, 3])  # in the middle of the first epoch, and at its end (before validating)
def test_interrupted_and_resumed_training_is_bit_identical(dataset, uninterrupted, tmp_path, stop_at, capsys):
    # the interrupted run loads its data with a worker process, the resumed one without: it makes no difference
    with pytest.raises(SystemExit) as stopped:
        run_training("boundary", _overrides(dataset, tmp_path, num_workers=1), attach=_interrupt_at(stop_at))
    assert stopped.value.code == 128 + signal.SIGINT
    assert "run the same command with --resume true to continue exactly where it stopped" in capsys.readouterr().err
    assert torch.load(tmp_path / "models" / "last.pt", weights_only=True)["trainer"]["iteration"] == stop_at

    run_training("boundary", _overrides(dataset, tmp_path, resume=True))

    expected = torch.load(uninterrupted / "models" / "last.pt", weights_only=True)
    resumed = torch.load(tmp_path / "models" / "last.pt", weights_only=True)
    assert resumed["trainer"]["iteration"] == 6 and set(resumed) >= {
        "network",
        "optimizer",
        "lr_scheduler",
        "random_states",
    }
    _assert_identical(expected, resumed)  # weights, optimizer, scheduler, best score, random generators
    _assert_identical(
        torch.load(uninterrupted / "models" / "model.pt", weights_only=True),
        torch.load(tmp_path / "models" / "model.pt", weights_only=True),
        "model.pt",
    )
    logged, expected_logged = scalars(tmp_path / "output"), scalars(uninterrupted / "output")
    for tag in ("train_loss", "train_loss_epoch", "learning_rate", "val_metric"):
        assert logged[tag] == expected_logged[tag], tag
    assert [step for step, _ in expected_logged["val_metric"]] == [0, 1, 2]
    assert [step for step, _ in expected_logged["train_loss"]] == [1, 2, 3, 4, 5, 6]


def _network(overrides):
    parser = ConfigParser()
    parser.read_config(str(CONFIG))
    parser.update(overrides)
    return parser.get_parsed_content("network_def")


KILL_SCRIPT = """
import json, os, signal, sys
from ignite.engine import Events
from tests.bundles._workflow import run_training

def kill_at(iteration):
    def attach(trainer):
        kill = lambda engine: os.kill(os.getpid(), signal.SIGKILL)
        trainer.add_event_handler(Events.ITERATION_COMPLETED(once=iteration), kill)
    return attach

run_training("boundary", json.loads(sys.argv[1]), attach=kill_at(int(sys.argv[2])))
"""


def test_killed_between_validations_leaves_a_recent_loadable_state(dataset, tmp_path):
    """SIGKILL after iteration 8, with last.pt due every 3 iterations and no validation since the start."""
    every, killed_at = 3, 8
    overrides = _overrides(dataset, tmp_path, epochs=1, epoch_length=20, val_interval=5, save_every_iterations=every)
    result = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, json.dumps(overrides), str(killed_at)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    state = torch.load(tmp_path / "models" / "last.pt", weights_only=True)
    assert killed_at - every < state["trainer"]["iteration"] <= killed_at
    assert state["trainer"]["iteration"] == 6
    _network(TINY).load_state_dict(state["network"])
    assert not list((tmp_path / "models").glob(".last.pt.*"))  # no temporary file left


def test_sigterm_on_the_command_line_saves_and_says_how_to_resume(dataset, tmp_path):
    args = [f"--{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in TINY.items()]
    command = [
        sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", str(CONFIG),
        "--dataset_dir", str(dataset), "--ckpt_dir", str(tmp_path / "models"), "--output_dir", str(tmp_path / "output"),
        "--epochs", "1", "--epoch_length", "500", "--val_at_start", "false", "--num_workers", "0",
        "--save_every_iterations", "1", *args,
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = tmp_path / "models" / "last.pt"
    try:
        deadline = time.monotonic() + 300
        while not last.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert last.exists(), "training wrote no last.pt"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Traceback" not in stderr
    final = stderr.strip().splitlines()[-1]
    match = re.fullmatch(
        r"Training stopped by SIGTERM after iteration (\d+) \(epoch 1\) and saved its state in (.+): run the same "
        r"command with --resume true to continue exactly where it stopped\.",
        final,
    )
    assert match, final
    assert match.group(2) == str(last)
    assert torch.load(last, weights_only=True)["trainer"]["iteration"] == int(match.group(1)) >= 1
