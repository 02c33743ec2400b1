"""Each inference bundle run end to end on a tiny HDF5 volume with a randomly initialised, shrunk network."""

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.bundle import run as run_bundle
from skimage.io import imread

from unet3d_monai.inference import predict

ROOT = Path(__file__).resolve().parents[2]

# task -> (network overrides that keep it small, roi_size, stored raw shape, output channels)
CASES = {
    "boundary": ({"network_def#f_maps": 4, "network_def#num_groups": 2}, [16, 24, 24], (18, 30, 28), 1),
    "lightsheet_boundary": ({"network_def#f_maps": 4, "network_def#num_groups": 2}, [16, 32, 32], (18, 34, 36), 1),
    "nuclei": ({"network_def#f_maps": [4, 8], "network_def#num_groups": 2}, [8, 16, 16], (11, 21, 19), 1),
    "denoising": ({"network_def#f_maps": [4, 8], "network_def#num_groups": 2}, [8, 16, 16], (11, 21, 19), 1),
    "multiclass": ({"network_def#f_maps": [4, 8], "network_def#num_groups": 2}, [8, 16, 16], (11, 21, 19), 3),
    "dsb2018_2d": ({"network_def#f_maps": [4, 8]}, [1, 16, 16], (1, 21, 26), 1),
}


def _config(task):
    return ROOT / "bundles" / task / "inference.json"


def _normalized(raw, mode):
    raw = raw.astype(np.float64)
    if mode == "minmax":
        return ((raw - raw.min()) / (raw.max() - raw.min() + 1e-10)).astype(np.float32)
    return ((raw - raw.mean()) / raw.std()).astype(np.float32)


def _save_random_network(task, overrides, path):
    parser = ConfigParser()
    parser.read_config(str(_config(task)))
    parser.update(overrides)
    torch.manual_seed(0)
    network = parser.get_parsed_content("network_def")
    torch.save(network.state_dict(), path)
    return network, parser["normalization"]


def _raw(shape):
    return (np.random.RandomState(0).rand(*shape) * 1000).astype(np.uint16)


def test_every_inference_bundle_has_the_documented_options():
    for task in CASES:
        config = json.loads(_config(task).read_text())
        for name in (
            "input",
            "ckpt_path",
            "output_dir",
            "roi_size",
            "overlap",
            "sw_batch_size",
            "tta",
            "save_segmentation",
            "blockwise",
            "resume",
            "overwrite",
            "raw_key",
            "device",
        ):
            assert name in config, (task, name)
        assert config["bundle_root"] == f"$unet3d_monai.bundle.bundle_root('{task}')"
        assert config["inferer"]["_target_"] == "unet3d_monai.inference.FittedSlidingWindowInferer"
        assert config["inferer"]["mode"] == "gaussian"
        assert config["inferer"]["sw_device"] == "@device" and config["inferer"]["progress"] == "@progress"
        # the chain: load -> normalise -> model grid -> inferer over the per-window network (in the out-of-memory
        # fallback) -> input grid -> segment -> write -> preview
        assert [t["_target_"] for t in config["preprocessing"]["transforms"]] == [
            "unet3d_monai.inference.LoadVolumed",
            "unet3d_monai.data.Normalized",
            "unet3d_monai.inference.ToModelGridd",
        ]
        assert config["window_predictor"]["_target_"] == "unet3d_monai.inference.WindowPredictor"
        assert config["window_predictor"]["cpu_bf16"] == "@cpu_bf16"
        assert config["window_network"]["_target_"] == "unet3d_monai.inference.OutOfMemoryFallback"
        assert config["window_network"]["predictor"] == "@window_predictor"
        assert [t["_target_"] for t in config["postprocessing"]["transforms"]] == [
            "unet3d_monai.inference.ToInputGridd",
            "unet3d_monai.inference.Segmentd",
            "unet3d_monai.inference.WritePredictionsd",
            "unet3d_monai.inference.WritePreviewd",
        ]
        evaluator = config["evaluator"]
        assert evaluator["_target_"] == "SupervisedEvaluator"
        assert (evaluator["network"], evaluator["inferer"], evaluator["postprocessing"]) == (
            "@window_network",
            "@inferer",
            "@postprocessing",
        )
        assert evaluator["prepare_batch"] == "$unet3d_monai.inference.prepare_volume_batch"
        assert config["dataloader"]["collate_fn"] == "$unet3d_monai.inference.collate_volumes"
        # one chain for every volume: no second program for block-wise volumes
        for gone in ("predictor", "volumes", "blockwise_volumes"):
            assert gone not in config, (task, gone)
        assert config["run"][0].startswith("$unet3d_monai.bundle.check_inference_options(")
        assert config["run"][1].startswith("$unet3d_monai.runtime.configure_run(@device, @network,")
        assert config["run"][2:] == [
            "$unet3d_monai.inference.check_prediction(@dataset.data, @window_network, @preprocessing, @postprocessing)",
            "$@evaluator.run() if len(@dataset) else None",
        ]
        assert config["finalize"] == ["$@inferer.close()"]
        # the block-wise options are the inferer's, the output format the writer's, the resampling the model grid's
        for name in ("block_shape", "scheduler", "resume"):
            assert config["inferer"][name] == f"@{name}", (task, name)
        assert config["inferer"]["work_dir"] == "@output_dir"
        assert config["postprocessing"]["transforms"][2]["output_format"] == "@output_format"
        assert config["preprocessing"]["transforms"][2]["voxel_size"] == "@voxel_size"
        assert config["preprocessing"]["transforms"][2]["enabled"] == "@rescale"
        assert "@part" in config["dataset"]["data"]
        assert config["network_def"]["pool_kernel_size"].startswith(
            "$unet3d_monai.inference.recorded_network_argument("
        )


@pytest.mark.parametrize("task", sorted(CASES))
def test_inference_bundle_end_to_end(task, tmp_path):
    overrides, roi_size, shape, out_channels = CASES[task]
    raw = _raw(shape)
    with h5py.File(tmp_path / "vol.h5", "w") as f:
        f["raw"] = raw
    network, normalization = _save_random_network(task, overrides, tmp_path / "model.pt")
    run_bundle(
        config_file=str(_config(task)),
        input=str(tmp_path / "vol.h5"),
        ckpt_path=str(tmp_path / "model.pt"),
        output_dir=str(tmp_path / "out"),
        roi_size=roi_size,
        device="cpu",
        progress=False,
        save_segmentation=task != "denoising",
        cpu_bf16=False,  # float32, to compare with predict(); channels-last weights change only the rounding
        **overrides,
    )
    volume = _normalized(raw, normalization)
    expected = predict(network, volume[None] if task != "dsb2018_2d" else volume[:, None], roi_size, device="cpu")
    with h5py.File(tmp_path / "out" / "vol_predictions.h5", "r") as f:
        predictions = f["predictions"][()]
        assert predictions.shape == (out_channels, *(shape if len(shape) == 3 else (1, *shape[1:])))
        np.testing.assert_allclose(predictions.reshape(expected.shape), expected, atol=1e-5)
        if task != "denoising":
            assert f["segmentation"].dtype == np.uint32
            assert f["segmentation"].shape == predictions.shape[1:]


def test_bundle_command_line_blockwise_with_a_seed_style_checkpoint(tmp_path):
    overrides, roi_size, shape, _ = CASES["boundary"]
    raw = _raw(shape)
    with h5py.File(tmp_path / "vol.h5", "w") as f:
        f["raw"] = raw
    network, _ = _save_random_network("boundary", overrides, tmp_path / "model.pt")
    seed_checkpoint = {"model_state_dict": {f"module.{k}": v for k, v in network.state_dict().items()}}
    torch.save(seed_checkpoint, tmp_path / "best_checkpoint.pytorch")
    command = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        str(_config("boundary")),
        "--input",
        str(tmp_path / "*.h5"),
        "--ckpt_path",
        str(tmp_path / "best_checkpoint.pytorch"),
        "--output_dir",
        str(tmp_path / "out"),
        "--roi_size",
        "[16,24,24]",
        "--overlap",
        "0.5",
        "--blockwise",
        "true",
        "--block_shape",
        "[9,15,14]",
        "--progress",
        "false",
        "--device",
        "cpu",
        "--network_def#f_maps",
        "4",
        "--network_def#num_groups",
        "2",
        "--preview",
        "true",
        "--cpu_bf16",
        "false",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = predict(network, _normalized(raw, "standardize"), roi_size, overlap=0.5, device="cpu")
    with h5py.File(tmp_path / "out" / "vol_predictions.h5", "r") as f:
        np.testing.assert_allclose(f["predictions"][()], expected, atol=1e-5)
    # the preview: orthogonal views (30 + 4 + 18 by 28 + 4 + 18 pixels) of the input and the prediction
    assert imread(tmp_path / "out" / "vol_preview.png").shape == (30 + 4 + 18, 2 * (28 + 4 + 18) + 4)
    # a second run refuses to overwrite
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode != 0 and "already exists" in result.stderr


def _refusing_cases(tmp_path):
    """(input file, extra options, expected message) for inputs and options prediction cannot score."""
    rng = np.random.RandomState(0)
    nan_volume = rng.rand(18, 30, 28).astype(np.float32)
    nan_volume[3, 4, 5] = np.nan
    with h5py.File(tmp_path / "in" / "b_nan.h5", "w") as f:
        f["raw"] = nan_volume
    with h5py.File(tmp_path / "in" / "b_flat.h5", "w") as f:
        f["raw"] = rng.rand(30, 28).astype(np.float32)
    return {
        "nan": (
            "b_nan.h5",
            [],
            f"error: Input '{tmp_path / 'in' / 'b_nan.h5'}' (dataset 'raw') has 1 NaN or infinite voxels, which the "
            "network cannot score; nothing was written.",
        ),
        "2d_into_3d": (
            "b_flat.h5",
            [],
            f"error: Input '{tmp_path / 'in' / 'b_flat.h5'}' (dataset 'raw') is a 2D image of shape (Y, X) = (30, 28), "
            "but this network is 3D",
        ),
        "zero_window": ("a_good.h5", ["--roi_size", "[0,64,64]"], "error: --roi_size [0, 64, 64] must hold 2 or 3"),
    }


@pytest.mark.parametrize("case", ["nan", "2d_into_3d", "zero_window"])
def test_command_line_refuses_what_it_cannot_score(tmp_path, case):
    """NaN voxels, a 2D image for a 3D network and a zero window: one sentence naming the file, dataset or option,
    a failed exit status and no output at all, not even for the good volume predicted first."""
    overrides, _, _, _ = CASES["boundary"]
    (tmp_path / "in").mkdir()
    with h5py.File(tmp_path / "in" / "a_good.h5", "w") as f:
        f["raw"] = _raw((18, 30, 28))
    _save_random_network("boundary", overrides, tmp_path / "model.pt")
    name, options, message = _refusing_cases(tmp_path)[case]
    inputs = [str(tmp_path / "in" / "a_good.h5"), str(tmp_path / "in" / name)]
    command = [
        sys.executable, "-m", "monai.bundle", "run", "--config_file", str(_config("boundary")),
        "--input", json.dumps(inputs), "--ckpt_path", str(tmp_path / "model.pt"), "--output_dir", str(tmp_path / "out"),
        "--device", "cpu", "--progress", "false", "--network_def#f_maps", "4", "--network_def#num_groups", "2",
        *(options or ["--roi_size", "[16,24,24]"]),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["inside_the_bundle", "elsewhere_with_bundle_root"])
def test_bundle_runs_from_any_working_directory(tmp_path, where):
    """From inside ``bundles/boundary`` (``--config_file inference.json``), and from another directory with
    ``--bundle_root``: the default checkpoint, input and output folders are under the bundle root."""
    overrides, roi_size, shape, _ = CASES["boundary"]
    root = tmp_path / "bundle"
    (root / "models").mkdir(parents=True)
    (root / "data" / "test").mkdir(parents=True)
    raw = _raw(shape)
    with h5py.File(root / "data" / "test" / "vol.h5", "w") as f:
        f["raw"] = raw
    network, _ = _save_random_network("boundary", overrides, root / "models" / "model.pt")
    common = ["--roi_size", "[16,24,24]", "--device", "cpu", "--progress", "false"]
    common += ["--cpu_bf16", "false"]  # float32, to compare with predict()
    common += ["--network_def#f_maps", "4", "--network_def#num_groups", "2"]
    if where == "inside_the_bundle":
        cwd, config = ROOT / "bundles" / "boundary", "inference.json"
        paths = ["--ckpt_path", str(root / "models" / "model.pt"), "--input", str(root / "data" / "test")]
        paths += ["--output_dir", str(root / "output")]
    else:
        cwd, config = tmp_path, str(_config("boundary"))
        paths = ["--bundle_root", str(root)]
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", config, *paths, *common]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = predict(network, _normalized(raw, "standardize"), roi_size, device="cpu")
    with h5py.File(root / "output" / "vol_predictions.h5", "r") as f:
        np.testing.assert_allclose(f["predictions"][()], expected, atol=1e-5)
