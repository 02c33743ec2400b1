"""Every training bundle run for a couple of iterations on tiny synthetic data, plus resuming, fine-tuning, crash
safety, the bundle tools (verify_net_in_out, ckpt_export), clear errors and a 2-process data-parallel run."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Events
from monai.bundle import ConfigParser, ckpt_export, verify_net_in_out
from monai.bundle import run as run_bundle

from tests.bundles._workflow import images, run_training, scalars, training_overrides
from unet3d_monai.data.sample import write_sample_dataset

ROOT = Path(__file__).resolve().parents[2]
TASKS = ["boundary", "lightsheet_boundary", "nuclei", "denoising", "multiclass", "dsb2018_2d"]
# bundles whose learning rate decays polynomially to 0 over the run; the others lower it on a validation plateau
DECAYING = {"boundary", "multiclass", "nuclei", "dsb2018_2d"}
# small networks and patches keep every run to a few seconds on 2 CPU cores
SMALL = {
    "boundary": {"network_def#f_maps": 8, "patch_size": [16, 32, 32]},
    "lightsheet_boundary": {"network_def#f_maps": 8, "network_def#num_levels": 3, "patch_size": [16, 32, 32]},
    "nuclei": {"network_def#f_maps": [8, 16, 32], "patch_size": [16, 32, 32]},
    "denoising": {"network_def#f_maps": [8, 16, 32], "patch_size": [16, 32, 32]},
    "multiclass": {"network_def#f_maps": [8, 16, 32], "patch_size": [16, 32, 32]},
    "dsb2018_2d": {"network_def#f_maps": [8, 16, 32], "patch_size": [32, 32], "batch_size": 2},
}
SHAPES = {"dsb2018_2d": (1, 48, 48)}
# the bundles whose validation segments objects, and so choose their segmentation settings when training ends
CHOSEN_MODES = {
    "boundary": "boundary_distance_watershed",
    "lightsheet_boundary": "boundary_distance_watershed",
    "nuclei": "foreground_watershed",
    "dsb2018_2d": "foreground_watershed",
}


def _config(task, name="train.json"):
    return ROOT / "bundles" / task / name


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    return {
        task: write_sample_dataset(
            task, root / task, shape=SHAPES.get(task, (16, 40, 40)), n_train=1, n_val=1, n_test=1
        )
        for task in TASKS
    }


def _overrides(task, dataset_dir, work, **extra):
    short = {"epochs": 1, "epoch_length": 2, "val_at_start": False}
    return training_overrides(dataset_dir, work, {**short, **SMALL[task], **extra})


def _messages(error: BaseException) -> str:
    """The messages of an exception and of every exception it was raised from (MONAI wraps config errors)."""
    parts = []
    while error is not None:
        parts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


def _train_fails(task, overrides, match):
    with pytest.raises(Exception) as info:
        _train(task, overrides)
    messages = _messages(info.value)
    assert re.search(match, messages), messages
    return messages


def _train(task, overrides):
    run_bundle("training", config_file=str(_config(task)), **overrides)


def _network(task, overrides):
    parser = ConfigParser()
    parser.read_config(str(_config(task)))
    parser.update(overrides)
    return parser.get_parsed_content("network_def")


@pytest.mark.parametrize("task", TASKS)
def test_training_bundle_runs_checkpoints_and_logs_to_tensorboard(task, datasets, tmp_path):
    overrides = _overrides(task, datasets[task], tmp_path)
    losses = []  # what the trainer computed, read back from TensorBoard's event files with its own reader
    run_training(task, overrides, attach=lambda trainer: trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: losses.append(e.state.output["loss"].item())))  # fmt: skip
    network = _network(task, overrides)
    network.load_state_dict(torch.load(tmp_path / "models" / "model.pt", weights_only=True), strict=True)
    last = torch.load(tmp_path / "models" / "last.pt", weights_only=True)
    assert set(last) == {"network", "optimizer", "lr_scheduler", "trainer", "checkpointer", "random_states"}
    assert last["trainer"]["iteration"] == 2 and last["trainer"]["epoch_length"] == 2
    assert np.isfinite(last["checkpointer"]["best_metric"]) and last["checkpointer"]["best_epoch"] == 1
    assert list((tmp_path / "output").glob("events.out.tfevents.*"))

    logged = scalars(tmp_path / "output")
    assert len(losses) == 2 and logged["train_loss"] == [(i + 1, float(np.float32(v))) for i, v in enumerate(losses)]
    assert [step for step, _ in logged["train_loss_epoch"]] == [1]
    assert logged["train_loss_epoch"][0][1] == pytest.approx(sum(losses) / 2, rel=1e-6)
    # logged at the end of the run: the decaying bundles reach 0 there, the others keep their starting rate (no
    # plateau yet): 2e-4 for lightsheet_boundary's ResidualUNet3D, 1e-3 for the others
    starting_rate = 0.0002 if task == "lightsheet_boundary" else 0.001
    assert logged["learning_rate"] == [(1, 0.0 if task in DECAYING else pytest.approx(starting_rate))]
    assert [step for step, _ in logged["val_metric"]] == [1] and np.isfinite(logged["val_metric"][0][1])
    for tag in ("train_iteration_time", "train_data_time", "train_samples_per_second"):
        assert [step for step, _ in logged[tag]] == [1, 2] and all(v > 0 for _, v in logged[tag]), tag
    batch = overrides.get("batch_size", 1)
    for (_, seconds), (_, speed) in zip(logged["train_iteration_time"], logged["train_samples_per_second"]):
        assert speed == pytest.approx(batch / seconds, rel=1e-5)
    classes = {tag for tag in logged if tag.startswith("val_metric/")}
    assert classes == (
        {"val_metric/class_0", "val_metric/class_1", "val_metric/class_2"} if task == "multiclass" else set()
    )
    assert {"val/image/0", "val/label/0", "val/pred/0"} <= set(images(tmp_path / "output"))
    record = json.loads((tmp_path / "models" / "model.json").read_text())
    assert record["patch_size"] == list(SMALL[task]["patch_size"])
    assert record["normalization"] == "standardize" and record["task"] == task
    assert record["final_activation"] == {"denoising": "identity", "multiclass": "softmax"}.get(task, "sigmoid")
    assert record["spatial_dims"] == (2 if task == "dsb2018_2d" else 3)
    rebuilt = ConfigParser({"network": record["network"]}).get_parsed_content("network")
    assert type(rebuilt) is type(network)
    rebuilt.load_state_dict(torch.load(tmp_path / "models" / "model.pt", weights_only=True), strict=True)
    if task in CHOSEN_MODES:
        choice = record["segmentation"]
        scores = [trial["score"] for trial in choice["trials"]]
        pick = np.nanmax if choice["higher_is_better"] else np.nanmin
        assert choice["settings"]["mode"] == CHOSEN_MODES[task] and choice["volumes"] == 1
        best = pick(scores)
        error = 1.0 - best if choice["higher_is_better"] else best
        # the chosen settings score within 5 % of the best's error (the planned ones are preferred among near-ties)
        assert choice["start_score"] == scores[0] and choice["best_score"] == best and len(scores) > 5
        assert choice["score"] in scores and abs(choice["score"] - best) <= 0.05 * error + 1e-12
        assert choice["higher_is_better"] == (task in ("nuclei", "dsb2018_2d"))
    else:
        assert record.get("segmentation") is None


def test_a_patch_larger_than_the_volumes_is_fitted_and_recorded_for_prediction(datasets, tmp_path):
    """Volumes are 16 x 40 x 40: a 32 x 64 x 64 patch trains (and validates) at 16 x 40 x 40, and the inference
    bundle predicts with that window by default."""
    overrides = _overrides("boundary", datasets["boundary"], tmp_path, patch_size=[32, 64, 64])
    _train("boundary", overrides)
    record = json.loads((tmp_path / "models" / "model.json").read_text())
    assert record["patch_size"] == [16, 40, 40]
    parser = ConfigParser()
    parser.read_config(str(_config("boundary", "inference.json")))
    parser.update({"ckpt_path": str(tmp_path / "models" / "model.pt")})
    assert parser.get_parsed_content("roi_size") == [16, 40, 40]
    assert parser.get_parsed_content("normalization") == "standardize"
    parser.update({"ckpt_path": str(tmp_path / "elsewhere" / "model.pt")})
    assert parser.get_parsed_content("roi_size") == [80, 170, 170]


def test_metric_direction_reaches_scheduler_and_checkpoints(datasets, tmp_path):
    for task, higher in [("boundary", False), ("nuclei", True), ("denoising", True), ("multiclass", True)]:
        parser = ConfigParser()
        parser.read_config(str(_config(task)))
        # the optimizer needs the network, which the training plan builds from the training volumes; the
        # checkpointer's validator logs to TensorBoard, whose writer makes its event file in --output_dir
        parser.update({"network_def#f_maps": 8, "network_def#num_levels": 2, "dataset_dir": str(datasets[task])})
        parser.update({"ckpt_dir": str(tmp_path / task / "models"), "output_dir": str(tmp_path / task / "output")})
        assert parser.get_parsed_content("higher_is_better") is higher
        assert parser.get_parsed_content("checkpointer").higher_is_better is higher
        if task not in DECAYING:
            assert parser.get_parsed_content("lr_scheduler").mode == ("max" if higher else "min")


@pytest.mark.parametrize("task", sorted(DECAYING))
def test_learning_rate_decays_to_zero_over_the_run(task, datasets, tmp_path):
    parser = ConfigParser()
    parser.read_config(str(_config(task)))
    overrides = {"network_def#f_maps": 8, "network_def#num_levels": 2, "dataset_dir": str(datasets[task])}
    overrides |= {"ckpt_dir": str(tmp_path / "models"), "output_dir": str(tmp_path / "output")}
    parser.update({**overrides, "epochs": 5, "epoch_length": 8})
    # polynomial decay over the whole run, 40 iterations: (1 - i / 40) ** 0.9, then 0
    factor = parser.get_parsed_content("lr_scheduler").lr_lambdas[0]
    expected = [1.0, 0.771890, 0.535887, 0.036153, 0.0, 0.0]
    assert [factor(i) for i in (0, 10, 20, 39, 40, 41)] == pytest.approx(expected, abs=1e-6)


# the boundary band each boundary bundle trains on, as the number of voxels marked around one voxel of another
# cell inside a 3x3x3 block: itself and its 6 face neighbours (connectivity 1), plus the 12 edge neighbours
# (connectivity 2, pytorch-3dunet's StandardLabelToBoundary)
BOUNDARY_BAND = {"boundary": 7, "lightsheet_boundary": 19}


def _boundary_targets(task):
    """The LabelToBoundaryd transforms of ``task``'s training and validation chains, built from its train.json."""
    parser = ConfigParser()
    parser.read_config(str(_config(task)))
    built = []
    for chain in ("train", "validate"):
        for index, item in enumerate(parser.get(f"{chain}#preprocessing#transforms")):
            if isinstance(item, dict) and item.get("_target_", "").endswith("LabelToBoundaryd"):
                built.append(parser.get_parsed_content(f"{chain}#preprocessing#transforms#{index}"))
    return built


@pytest.mark.parametrize("task", sorted(BOUNDARY_BAND))
def test_boundary_targets_have_the_recipes_band(task):
    label = np.ones((1, 3, 3, 3), dtype=np.int64)
    label[0, 1, 1, 1] = 2
    targets = _boundary_targets(task)
    assert len(targets) == 2, "one boundary target in training and one in validation"
    for target in targets:
        boundary, labels = target({"label": label})["label"]
        assert int(np.asarray(boundary).sum()) == BOUNDARY_BAND[task]
        np.testing.assert_array_equal(np.asarray(labels), label[0])


def test_lightsheet_boundary_targets_equal_pytorch3dunets():
    reason = "pytorch-3dunet is not installed (pip install --no-deps pytorch3dunet)"
    transforms = pytest.importorskip("pytorch3dunet.augment.transforms", reason=reason)
    rng = np.random.default_rng(3)
    # blocky cells of 4x4x4 voxels with random labels, so that cells meet along faces, edges and corners
    label = np.kron(rng.integers(1, 6, size=(4, 5, 5)), np.ones((4, 4, 4), dtype=np.int64))
    expected = transforms.StandardLabelToBoundary(append_label=True)(label)
    for target in _boundary_targets("lightsheet_boundary"):
        np.testing.assert_array_equal(np.asarray(target({"label": label[None]})["label"]), expected)


def test_resume_continues_counters_and_optimizer(datasets, tmp_path):
    overrides = _overrides("boundary", datasets["boundary"], tmp_path)
    _train("boundary", overrides)
    first = torch.load(tmp_path / "models" / "last.pt", weights_only=True)
    rates = []  # the learning rate each resumed iteration uses
    resumed = {**overrides, "epochs": 2, "resume": "true"}
    run_training("boundary", resumed, attach=lambda trainer: trainer.add_event_handler(
        Events.ITERATION_STARTED, lambda e: rates.append(e.optimizer.param_groups[0]["lr"])))  # fmt: skip
    second = torch.load(tmp_path / "models" / "last.pt", weights_only=True)
    assert first["trainer"]["iteration"] == 2 and second["trainer"]["iteration"] == 4
    # the first run decayed to 0 at its end; 2 more epochs stretch the decay to 4 iterations: 1e-3 (1 - i / 4) ** 0.9
    assert first["optimizer"]["param_groups"][0]["lr"] == 0.0
    assert rates == pytest.approx([5.358867e-4, 2.871746e-4], rel=1e-6)
    assert second["optimizer"]["param_groups"][0]["lr"] == 0.0
    # Adam's step counter continues from the restored optimizer state instead of restarting at 0
    steps = {float(s["step"]) for s in second["optimizer"]["state"].values()}
    assert steps == {4.0}


def test_a_second_run_never_replaces_the_first_runs_weights(datasets, tmp_path):
    """Training twice into one --ckpt_dir is refused and leaves the first run's files as they were; --resume true
    then continues that run and --overwrite true replaces it."""
    overrides = _overrides("boundary", datasets["boundary"], tmp_path)
    _train("boundary", overrides)
    models = tmp_path / "models"
    first = {name: (models / name).read_bytes() for name in ("model.pt", "model.json", "last.pt", "plan.json")}
    _train_fails(
        "boundary",
        {**overrides, "epochs": 3},
        rf"--ckpt_dir '{models}' already holds model.pt and last.pt from an earlier run; pass --resume true to "
        "continue that run, --overwrite true to replace its weights, or choose another --ckpt_dir.",
    )
    assert {name: (models / name).read_bytes() for name in first} == first
    assert sorted(p.name for p in models.iterdir()) == ["last.pt", "model.json", "model.pt", "plan.json"]

    _train("boundary", {**overrides, "epochs": 2, "resume": "true"})
    assert torch.load(models / "last.pt", weights_only=True)["trainer"]["iteration"] == 4

    # a fresh run replaces both files (the device given by name)
    replaced = (models / "model.pt").stat().st_ino
    _train("boundary", {**overrides, "overwrite": "true", "device": "cpu"})
    last = torch.load(models / "last.pt", weights_only=True)
    assert last["trainer"]["iteration"] == 2 and last["checkpointer"]["best_epoch"] == 1
    assert (models / "model.pt").stat().st_ino != replaced


def test_resume_without_state_is_explained(datasets, tmp_path):
    overrides = _overrides("boundary", datasets["boundary"], tmp_path, resume=True)
    _train_fails("boundary", overrides, "--resume true needs the training state .*last.pt, which does not exist")


def test_fine_tune_from_seed_checkpoint(datasets, tmp_path, seed_fixtures):
    """A pytorch-3dunet best_checkpoint.pytorch initialises the bundle's network exactly (learning rate 0)."""
    seed_ckpt = seed_fixtures / "unet3d_gcr.pytorch"
    overrides = _overrides(
        "boundary",
        datasets["boundary"],
        tmp_path,
        **{"network_def#f_maps": 8, "network_def#num_levels": 3, "network_def#num_groups": 4},
        pretrained_ckpt=str(seed_ckpt),
        learning_rate=0.0,
        weight_decay=0.0,
    )
    _train("boundary", overrides)
    tuned = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    seed_state = torch.load(seed_ckpt, weights_only=True)["model_state_dict"]
    assert set(tuned) == set(seed_state)
    for key, value in seed_state.items():
        torch.testing.assert_close(tuned[key], value, rtol=0, atol=0)


def test_pretrained_checkpoint_of_another_architecture_is_explained(datasets, tmp_path, seed_fixtures):
    overrides = _overrides("boundary", datasets["boundary"], tmp_path)
    overrides["pretrained_ckpt"] = str(seed_fixtures / "unet3d_gcr.pytorch")
    _train_fails("boundary", overrides, "f_maps")


def test_missing_dataset_dir_is_explained(tmp_path):
    overrides = _overrides("boundary", tmp_path / "nowhere", tmp_path)
    _train_fails("boundary", overrides, "nowhere")


def test_missing_label_key_is_explained(datasets, tmp_path):
    overrides = _overrides("boundary", datasets["boundary"], tmp_path, label_key="labels")
    _train_fails("boundary", overrides, r"labels.*(raw|label)")


def test_nan_loss_stops_with_the_iteration(datasets, tmp_path):
    """Adam with a learning rate of 1e30 blows the weights up after one step: the second loss is not finite."""
    overrides = _overrides("boundary", datasets["boundary"], tmp_path, learning_rate=1e30)
    _train_fails("boundary", overrides, r"loss became (nan|inf) at iteration 2 \(epoch 1\)")
    assert not (tmp_path / "models" / "model.pt").exists()


def _cli(*args, **popen):
    return [sys.executable, "-m", "monai.bundle", *args]


def _work_dirs(tmp_path):
    """Checkpoint and output folders of a command-line run under ``tmp_path``, never the bundle's own."""
    return ["--ckpt_dir", str(tmp_path / "models"), "--output_dir", str(tmp_path / "output")]


def test_misspelt_option_on_the_command_line(datasets, tmp_path):
    cmd = _cli("run", "training", "--config_file", str(_config("boundary")), "--dataset_dir", str(datasets["boundary"]))
    cmd += _work_dirs(tmp_path)
    result = subprocess.run([*cmd, "--epoch", "2"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode != 0
    assert "error: unknown option --epoch for this bundle. Did you mean --epochs?" in result.stderr
    assert "Traceback" not in result.stderr  # one sentence, not MONAI's nested tracebacks
    known = set(result.stderr.split("Known options: ")[1].split(".\n")[0].split(", "))
    assert {"epochs", "learning_rate", "ckpt_dir"} <= known
    assert not {"checkpointer", "finalize", "imports", "plan", "state_saver", "train", "network"} & known


def test_bad_input_on_the_command_line_is_one_sentence(tmp_path):
    cmd = _cli("run", "training", "--config_file", str(_config("boundary")), "--dataset_dir", str(tmp_path / "none"))
    cmd += _work_dirs(tmp_path)
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "error: " in result.stderr and str(tmp_path / "none") in result.stderr
    full = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "UNET3D_MONAI_TRACEBACK": "1"}
    )
    assert "Traceback" in full.stderr


@pytest.mark.parametrize("workers", [0, 1])
def test_bad_input_met_during_training_is_one_sentence(datasets, tmp_path, workers):
    """A damaged file met by the validation at the start of training (read in this process, or in a DataLoader
    worker) ends the run with its sentence alone: ignite's and MONAI's error logs with tracebacks are left out."""
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(b"not an HDF5 file" * 8)
    args = [f"--{k}={json.dumps(v)}" for k, v in SMALL["boundary"].items()]
    cmd = [
        *_cli("run", "training", "--config_file", str(_config("boundary"))),
        "--dataset_dir", str(datasets["boundary"]),
        *_work_dirs(tmp_path),
        "--epochs", "1",
        "--epoch_length", "1",
        f"--validate#dataset#data=[{{'image': '{damaged}', 'label': '{damaged}'}}]",
        f"--validate#dataloader#num_workers={workers}",
        *args,
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert "SupervisedTrainer - INFO - Engine run resuming" in result.stdout  # the run had started
    assert result.returncode == 1
    assert result.stderr.endswith(
        f"\nerror: File '{damaged}' is not an HDF5 file (or its header is damaged).\n"
        "(set UNET3D_MONAI_TRACEBACK=1 for the full traceback)\n"
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert " - ERROR - " not in result.stdout


@pytest.mark.parametrize("task", TASKS)
def test_verify_net_in_out_and_torchscript_export(task, tmp_path):
    """MONAI's bundle tools work on every bundle: the metadata's data format matches the network, and the
    network exports to TorchScript with the same outputs."""
    meta, config = str(_config(task, "metadata.json")), str(_config(task))
    small = {k: v for k, v in SMALL[task].items() if k.startswith("network_def")}
    verify_net_in_out("network_def", meta_file=meta, config_file=config, **small)
    network = _network(task, small)
    ckpt = tmp_path / "model.pt"
    torch.save(network.state_dict(), ckpt)
    ckpt_export("network_def", filepath=str(tmp_path / "model.ts"), ckpt_file=str(ckpt), meta_file=meta,
                config_file=config, **small)  # fmt: skip
    scripted = torch.jit.load(str(tmp_path / "model.ts"))
    shape = (1, 1, 32, 32) if task == "dsb2018_2d" else (1, 1, 8, 16, 16)
    x = torch.randn(shape)
    network.eval()
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), network(x), rtol=1e-4, atol=1e-5)


def test_verify_net_in_out_command_line():
    meta, config = str(_config("boundary", "metadata.json")), str(_config("boundary"))
    cmd = _cli("verify_net_in_out", "network_def", "--meta_file", meta, "--config_file", config)
    result = subprocess.run([*cmd, "--network_def#f_maps", "8"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "data shape of network is verified with no error" in result.stdout + result.stderr


def test_killed_training_resumes(datasets, tmp_path):
    """SIGKILL at an arbitrary moment never leaves a half-written checkpoint, and --resume continues."""
    args = [f"--{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in SMALL["boundary"].items()]
    base = [
        *_cli("run", "training", "--config_file", str(_config("boundary"))),
        "--dataset_dir", str(datasets["boundary"]),
        "--ckpt_dir", str(tmp_path / "models"),
        "--output_dir", str(tmp_path / "output"),
        "--epoch_length", "2",
        "--val_interval", "1",
        "--val_at_start", "false",
        "--num_workers", "0",
        *args,
    ]  # fmt: skip
    proc = subprocess.Popen([*base, "--epochs", "100"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "models" / "last.pt"
    try:
        deadline = time.monotonic() + 240
        while not last.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert last.exists(), "training wrote no last.pt"
        time.sleep(float(np.random.default_rng().uniform(0.0, 3.0)))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    state = torch.load(last, weights_only=True)
    torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    done = state["trainer"]["iteration"] // 2
    result = subprocess.run(
        [*base, "--epochs", str(done + 1), "--resume", "true"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert torch.load(last, weights_only=True)["trainer"]["iteration"] == 2 * (done + 1)


def test_two_process_data_parallel_training(datasets, tmp_path):
    configs = f"['{_config('boundary')}','{_config('boundary', 'multi_gpu_train.json')}']"
    args = [f"--{k}={json.dumps(v)}" for k, v in SMALL["boundary"].items()]
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
        "-m", "monai.bundle", "run", "training", "--config_file", configs,
        "--meta_file", str(_config("boundary", "metadata.json")),
        "--dataset_dir", str(datasets["boundary"]),
        "--ckpt_dir", str(tmp_path / "models"),
        "--output_dir", str(tmp_path / "output"),
        "--epochs", "1", "--epoch_length", "2", "--val_interval", "1", "--num_workers", "0",
        *args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    last = torch.load(tmp_path / "models" / "last.pt", weights_only=True)
    assert last["trainer"]["iteration"] == 2
    # only rank 0 writes the checkpoints, without DistributedDataParallel's "module." prefix
    assert not any(k.startswith("module.") for k in last["network"])
    network = _network("boundary", SMALL["boundary"])
    network.load_state_dict(torch.load(tmp_path / "models" / "model.pt", weights_only=True))
