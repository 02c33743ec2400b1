"""``unet3d-monai convert``, ``train3dunet`` and ``predict3dunet`` on small configurations written here: training,
resuming from last.pt, fine-tuning from a pytorch-3dunet checkpoint, pytorch-3dunet's command-line overrides, and
one sentence for each kind of bad input."""

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from unet3d_monai.compat import load_network_weights, network_from_pytorch3dunet_config
from unet3d_monai.compat.cli import apply_overrides, main, predict3dunet, train3dunet
from unet3d_monai.data import Normalize
from unet3d_monai.data.sample import write_sample_dataset
from unet3d_monai.inference import predict

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "tests" / "fixtures" / "pytorch3dunet" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_sample_dataset("boundary", tmp_path_factory.mktemp("cli") / "data", shape=(16, 40, 40), n_test=2)


def _model(name="unet3d_gcr"):
    return {"name": MANIFEST[name]["model"], **MANIFEST[name]["kwargs"]}


def _transformer(train):
    raw = [{"name": "Standardize"}, {"name": "ToTensor", "expand_dims": True}]
    label = [{"name": "StandardLabelToBoundary", "append_label": True}, {"name": "ToTensor", "expand_dims": False}]
    if train:
        raw.insert(1, {"name": "RandomFlip"})
        label.insert(0, {"name": "RandomFlip"})
    return {"raw": raw, "label": label}


def _train_config(data, ckpt_dir, **trainer):
    slice_builder = {"name": "FilterSliceBuilder", "patch_shape": [16, 32, 32], "stride_shape": [16, 32, 32],
                     "threshold": 0.1, "slack_acceptance": 0.01}  # fmt: skip
    return {
        "model": _model(),
        "loss": {"name": "BCEDiceLoss", "skip_last_target": True},
        "optimizer": {"learning_rate": 0.001, "weight_decay": 0.0},
        "eval_metric": {"name": "BoundaryAdaptedRandError", "use_last_target": True},
        "lr_scheduler": {"name": "ReduceLROnPlateau", "mode": "min", "factor": 0.5, "patience": 2},
        "trainer": {
            "checkpoint_dir": str(ckpt_dir),
            "validate_after_iters": 2,
            "log_after_iters": 1,
            "max_num_epochs": 10,
            "max_num_iterations": 2,
            **trainer,
        },
        "loaders": {
            "batch_size": 1,
            "num_workers": 0,
            "global_normalization": True,
            "train": {"file_paths": [str(data / "train")], "slice_builder": slice_builder,
                      "transformer": _transformer(True)},
            "val": {"file_paths": [str(data / "val")], "slice_builder": slice_builder,
                    "transformer": _transformer(False)},
        },
    }  # fmt: skip


def _test_config(model_path="PATH_TO_BEST_CHECKPOINT", model=None, **predictor):
    return {
        "model_path": model_path,
        "model": model or _model(),
        "predictor": {"name": "StandardPredictor", **predictor},
        "loaders": {
            "output_dir": "PATH_TO_OUTPUT_DIR",
            "num_workers": 0,
            "global_normalization": True,
            "test": {
                "file_paths": ["PATH_TO_TEST_DIR"],
                "slice_builder": {"name": "SliceBuilder", "patch_shape": [16, 32, 32], "stride_shape": [16, 24, 24],
                                  "halo_shape": [0, 4, 4]},
                "transformer": {"raw": [{"name": "Standardize"}, {"name": "ToTensor", "expand_dims": True}]},
            },
        },
    }  # fmt: skip


def _write(tmp_path, config, name="config.yml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _fixture(name="unet3d_gcr"):
    return ROOT / "tests" / "fixtures" / "pytorch3dunet" / MANIFEST[name]["checkpoint"]


def test_train3dunet_trains_then_resumes_from_last_pt(data, tmp_path):
    ckpt = tmp_path / "checkpoints"
    assert train3dunet(["--config", _write(tmp_path, _train_config(data, ckpt))]) == 0
    first = torch.load(ckpt / "last.pt", weights_only=True)
    assert first["trainer"]["iteration"] == 2 and (ckpt / "model.pt").is_file()
    assert list((ckpt / "logs").glob("events.out.tfevents.*"))
    # pytorch-3dunet's resume: the path of the training state; training continues and checkpoints beside it
    resumed = _train_config(data, tmp_path / "elsewhere", resume=str(ckpt / "last.pt"), max_num_iterations=4)
    assert train3dunet(["--config", _write(tmp_path, resumed, "resume.yml")]) == 0
    second = torch.load(ckpt / "last.pt", weights_only=True)
    assert second["trainer"]["iteration"] == 4
    assert {float(s["step"]) for s in second["optimizer"]["state"].values()} == {4.0}
    assert not (tmp_path / "elsewhere").exists()


def test_train3dunet_fine_tunes_from_a_pytorch3dunet_checkpoint(data, tmp_path):
    """With learning rate 0, the best weights are the pre-trained ones, exactly; pytorch-3dunet's minimum learning
    rate (1e-6) stops the training after the first iteration, which is validated and checkpointed."""
    config = _train_config(data, tmp_path / "ckpt", pre_trained=str(_fixture()))
    config["optimizer"]["learning_rate"] = 0.0
    assert train3dunet(["--config", _write(tmp_path, config)]) == 0
    tuned = torch.load(tmp_path / "ckpt" / "model.pt", weights_only=True)
    seed = torch.load(_fixture(), weights_only=True)["model_state_dict"]
    assert set(tuned) == set(seed)
    for key, value in seed.items():
        torch.testing.assert_close(tuned[key], value, rtol=0, atol=0)
    assert torch.load(tmp_path / "ckpt" / "last.pt", weights_only=True)["trainer"]["iteration"] == 1


def _expected(network, raw_path, roi, overlap):
    with h5py.File(raw_path) as f:
        raw = Normalize("standardize")(f["raw"][()])
    return predict(network.eval(), raw, roi_size=roi, overlap=overlap)


def test_predict3dunet_with_pytorch3dunet_overrides(data, tmp_path):
    config = _write(tmp_path, _test_config(save_segmentation=True))
    files = sorted((data / "test").glob("*.h5"))
    out = tmp_path / "out"
    argv = ["--config", config, "--model_path", str(_fixture()), "--loaders.output_dir", str(out),
            "--loaders.test.file_paths", *map(str, files)]  # fmt: skip
    assert predict3dunet(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{f.stem}_predictions.h5" for f in files]
    network = network_from_pytorch3dunet_config({"model": _model()})
    load_network_weights(network, _fixture())
    # patch 16x32x32 with a halo of 4 in y and x: windows of 16x40x40 at stride 24 (overlap 0.4)
    expected = _expected(network, files[0], [16, 40, 40], [0.0, 0.4, 0.4])
    with h5py.File(out / f"{files[0].stem}_predictions.h5") as f:
        np.testing.assert_allclose(f["predictions"][()], expected, atol=1e-5, rtol=1e-4)
        np.testing.assert_array_equal(f["segmentation"][()], expected[0] > 0.5)


def test_predict3dunet_writes_beside_the_inputs_with_the_output_dataset_and_channel(data, tmp_path):
    inputs = tmp_path / "inputs"
    shutil.copytree(data / "test", inputs)
    model = _model("resunet3d_softmax")
    config = _test_config(str(_fixture("resunet3d_softmax")), model, output_dataset="probabilities",
                          prediction_channel=1)  # fmt: skip
    del config["loaders"]["output_dir"]  # pytorch-3dunet then writes beside each input
    config["loaders"]["test"]["file_paths"] = [str(inputs)]
    assert predict3dunet(["--config", _write(tmp_path, config)]) == 0
    network = network_from_pytorch3dunet_config({"model": model})
    load_network_weights(network, _fixture("resunet3d_softmax"))
    raw_path = sorted(inputs.glob("*.h5"))[0]
    expected = _expected(network, raw_path, [16, 40, 40], [0.0, 0.4, 0.4])
    with h5py.File(raw_path.with_name(f"{raw_path.stem}_predictions.h5")) as f:
        assert list(f) == ["probabilities"]
        np.testing.assert_allclose(f["probabilities"][()], expected[1:2], atol=1e-5, rtol=1e-4)


def test_convert_writes_a_bundle_that_monai_bundle_runs(data, tmp_path, capsys):
    config = _write(tmp_path, _test_config(str(_fixture())))
    bundle = tmp_path / "bundle"
    assert main(["convert", config, str(bundle)]) == 0
    printed = capsys.readouterr().out
    assert "loaders.test.slice_builder.halo_shape: replaced by Gaussian blending" in printed
    assert sorted(p.name for p in bundle.iterdir()) == ["README.md", "inference.json", "logging.conf", "metadata.json"]
    readme = (bundle / "README.md").read_text()
    assert config in readme and "`loaders.test.slice_builder.halo_shape`: replaced by Gaussian blending" in readme
    out = tmp_path / "out"
    run = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(bundle / "inference.json"),
           "--input", str(data / "test"), "--output_dir", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(out.glob("*_predictions.h5"))) == 2
    _one_sentence(capsys, main(["convert", config, str(bundle)]), "already exists and is not empty")


def test_apply_overrides_sets_dotted_keys_like_pytorch3dunet():
    config = {"model_path": "a", "loaders": {"test": {"file_paths": ["x"]}}}
    result = apply_overrides(config, {"model_path": "b", "loaders.test.file_paths": ["y", "z"], "loaders.o": None})
    assert result == {"model_path": "b", "loaders": {"test": {"file_paths": ["y", "z"]}}}
    assert config["model_path"] == "a"  # the input is left alone


def _one_sentence(capsys, status, *fragments):
    err = capsys.readouterr().err
    assert status == 1
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def test_a_file_that_is_not_yaml(tmp_path, capsys):
    path = tmp_path / "broken.yml"
    path.write_text("model: [unclosed\n  name: UNet3D\n")
    _one_sentence(capsys, main(["convert", str(path), str(tmp_path / "b")]), "broken.yml is not a valid YAML file")
    path.write_bytes(b"\x89HDF\r\n\x1a\n\x00\x00\x00")
    _one_sentence(capsys, main(["convert", str(path), str(tmp_path / "b")]), "broken.yml is not a valid YAML file")


def test_a_file_path_that_matches_nothing(data, tmp_path, capsys):
    config = _train_config(data, tmp_path / "ckpt")
    config["loaders"]["train"]["file_paths"] = [str(tmp_path / "nowhere" / "*.h5")]
    status = train3dunet(["--config", _write(tmp_path, config)])
    _one_sentence(capsys, status, f"Pattern '{tmp_path / 'nowhere' / '*.h5'}' matches no HDF5 files.")
    status = predict3dunet(["--config", _write(tmp_path, _test_config(str(_fixture()))),
                            "--loaders.test.file_paths", str(tmp_path / "missing.h5")])  # fmt: skip
    _one_sentence(capsys, status, "missing.h5")


def test_an_unknown_model_or_loss_name_gives_the_closest_names(data, tmp_path, capsys):
    config = _train_config(data, tmp_path / "ckpt")
    config["model"]["name"] = "UNet4D"
    _one_sentence(capsys, train3dunet(["--config", _write(tmp_path, config)]),
                  "unknown model.name 'UNet4D'; did you mean 'UNet3D' or 'UNet2D'?")  # fmt: skip
    config = _train_config(data, tmp_path / "ckpt")
    config["loss"]["name"] = "BCEDice"
    _one_sentence(capsys, main(["convert", _write(tmp_path, config), str(tmp_path / "b")]),
                  "unknown loss.name 'BCEDice'; did you mean 'BCEDiceLoss'?")  # fmt: skip


def test_a_misspelt_key_is_an_error_naming_it(data, tmp_path, capsys):
    config = _train_config(data, tmp_path / "ckpt")
    config["trainer"]["max_num_epoch"] = config["trainer"].pop("max_num_epochs")
    _one_sentence(capsys, main(["convert", _write(tmp_path, config), str(tmp_path / "b")]),
                  "unknown key 'trainer.max_num_epoch'; did you mean 'max_num_epochs'")  # fmt: skip
    config = _train_config(data, tmp_path / "ckpt")
    config["loaders"]["train"]["transformer"]["raw"][1] = {"name": "RandomFlip", "axis_probability": 0.3}
    _one_sentence(capsys, main(["convert", _write(tmp_path, config), str(tmp_path / "b")]),
                  "unknown key 'loaders.train.transformer.raw[1].RandomFlip.axis_probability'; "
                  "did you mean 'axis_prob'?")  # fmt: skip


def test_a_checkpoint_that_does_not_fit_the_model(data, tmp_path, capsys):
    model = {**_model(), "f_maps": 16}  # the checkpoint has f_maps 8
    config = _write(tmp_path, _test_config(str(_fixture()), model))
    status = predict3dunet(["--config", config, "--loaders.test.file_paths", str(data / "test"),
                            "--loaders.output_dir", str(tmp_path / "out")])  # fmt: skip
    _one_sentence(capsys, status, "do not fit this UNet3D; check the option(s) f_maps")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_missing_best_checkpoint_points_to_model_pt(data, tmp_path, capsys):
    (tmp_path / "ckpt").mkdir()
    shutil.copy(_fixture(), tmp_path / "ckpt" / "model.pt")
    config = _write(tmp_path, _test_config(str(tmp_path / "ckpt" / "best_checkpoint.pytorch")))
    status = predict3dunet(["--config", config, "--loaders.test.file_paths", str(data / "test")])
    _one_sentence(capsys, status, "best_checkpoint.pytorch does not exist", f"--model_path {tmp_path / 'ckpt'}")


def test_our_commands_are_the_ones_on_path():
    """pytorch-3dunet installs commands of the same names; the project's installation must win."""
    try:
        scripts = {ep.name for ep in distribution("unet3d-monai").entry_points if ep.group == "console_scripts"}
    except PackageNotFoundError:
        pytest.skip("unet3d-monai is not installed (pip install -e .)")
    if "train3dunet" not in scripts:
        pytest.skip("the installed unet3d-monai predates its console scripts: reinstall it (pip install -e .)")
    for name, description in (
        ("train3dunet", "Train from a pytorch-3dunet train configuration."),
        ("predict3dunet", "Predict with a pytorch-3dunet test configuration."),
        ("unet3d-monai", "unet3d-monai tools."),
    ):
        path = shutil.which(name)
        assert path is not None, f"{name} is not on PATH"
        result = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and description in result.stdout, (path, result.stdout, result.stderr)


def test_an_error_from_a_dataloader_worker_is_one_sentence(capsys, monkeypatch):
    """train3dunet and predict3dunet explain bad input as the bundles do, also when a DataLoader worker raised it."""
    import unet3d_monai.io.files as files_module
    from unet3d_monai.compat import cli

    monkeypatch.delenv("UNET3D_MONAI_TRACEBACK", raising=False)
    worker_traceback = (
        "Caught ValueError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        f'  File "{files_module.__file__}", line 10, in check\n'
        "ValueError: HDF5 file 'a.h5' has no dataset 'raw'.\n"
    )

    def fails(argv):
        raise RuntimeError(worker_traceback)

    assert cli._explained(fails, []) == 1
    assert capsys.readouterr().err.splitlines()[0] == "error: HDF5 file 'a.h5' has no dataset 'raw'."
