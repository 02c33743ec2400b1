from pathlib import Path

import pytest
from monai.bundle import ConfigParser

from unet3d_monai.bundle import check_cli_overrides, resume_checkpoint
from unet3d_monai.bundle.options import used_options, user_options


def test_unknown_override_suggests_the_close_name():
    argv = ["run", "training", "--config_file", "x.json", "--epochs", "3", "--learning_rat", "0.1"]
    with pytest.raises(ValueError, match=r"unknown option --learning_rat .*Did you mean --learning_rate\?"):
        check_cli_overrides(["epochs", "learning_rate"], argv)


def test_known_and_nested_overrides_pass():
    check_cli_overrides(["epochs", "network_def"], ["run", "--epochs", "3", "--network_def#f_maps", "4", "--meta_file"])


def test_resume_checkpoint(tmp_path):
    assert resume_checkpoint("false", tmp_path) is None
    with pytest.raises(FileNotFoundError, match="--resume true needs the training state .*last.pt"):
        resume_checkpoint(True, tmp_path)
    (tmp_path / "last.pt").write_bytes(b"x")
    assert resume_checkpoint("true", tmp_path) == str(tmp_path / "last.pt")


def test_only_the_bundle_command_line_is_checked(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/usr/bin/pytest", "--maxfail=1"])
    check_cli_overrides(["epochs"])  # a test runner's own options are not bundle options
    monkeypatch.setattr("sys.argv", ["/site-packages/monai/bundle/__main__.py", "run", "--epoch", "2"])
    with pytest.raises(ValueError, match="unknown option --epoch for this bundle. Did you mean --epochs"):
        check_cli_overrides(["epochs"])


def test_option_names_come_from_the_config_files_on_the_command_line():
    from pathlib import Path

    bundle = Path(__file__).resolve().parents[2] / "bundles" / "boundary"
    argv = ["run", "--config_file", str(bundle / "inference.json"), "--roi_size", "[8,8,8]", "--inferer#overlap", "0.5"]
    check_cli_overrides(argv=argv)
    with pytest.raises(ValueError, match=r"unknown option --roi_sise for this bundle. Did you mean --roi_size\?"):
        check_cli_overrides(argv=[*argv, "--roi_sise", "[8,8,8]"])
    # train.json merged with multi_gpu_train.json: the names of both files
    merged = str([str(bundle / "train.json"), str(bundle / "multi_gpu_train.json")])
    check_cli_overrides(argv=["run", "training", "--config_file", merged, "--epochs", "2", "--validate#evaluator", "x"])


def test_block_wise_planning_and_cpu_options_are_accepted_by_name():
    from pathlib import Path

    bundle = Path(__file__).resolve().parents[2] / "bundles" / "nuclei"
    inference = ["run", "--config_file", str(bundle / "inference.json")]
    for name, value in (
        ("scheduler", "local:2"),
        ("part", "1/2"),
        ("output_format", "zarr"),
        ("voxel_size", "[1,0.5,0.5]"),
        ("rescale", "false"),
        ("cpu_bf16", "false"),
        ("cpu_threads", "2"),
        ("network_def#pool_kernel_size", "[1,2,2]"),
    ):
        check_cli_overrides(argv=[*inference, f"--{name}", value])
    with pytest.raises(ValueError, match=r"unknown option --schedular for this bundle. Did you mean --scheduler\?"):
        check_cli_overrides(argv=[*inference, "--schedular", "local:2"])
    training = ["run", "training", "--config_file", str(bundle / "train.json")]
    check_cli_overrides(
        argv=[*training, "--pool_kernel_size", "[1,2,2]", "--memory_budget", "8", "--voxel_size", "auto"]
    )


BUNDLES = sorted((Path(__file__).resolve().parents[2] / "bundles").glob("*/inference.json"))
INTERNAL = {"checkpointer", "finalize", "imports", "initialize", "plan", "run", "state_saver", "training", "network"}


def _unknown(argv):
    with pytest.raises(ValueError) as info:
        check_cli_overrides(argv=argv)
    return str(info.value)


def test_user_options_are_the_settings_of_a_config():
    config = {
        "imports": ["$import os"],
        "bundle_root": "$os.getcwd()",
        "ckpt_dir": "$@bundle_root + '/models'",
        "ckpt_path": "$@ckpt_dir + '/model.pt'",
        "epochs": 3,
        "patch_size": [16, 32, 32],
        "val_roi_size": None,
        "alias": "@epochs",
        "network_def": {"_target_": "torch.nn.Identity"},
        "network": "$@network_def.to('cpu')",
        "inputs": "$sorted(@network.parameters())",
        "handlers": ["@network", {"_target_": "StatsHandler"}],
        "export": ["$print(@ckpt_path)"],
        "loop_a": "@loop_b",
        "loop_b": "@loop_a",
        "_meta_": {},
        "initialize": ["$print(@epochs)"],
        "run": "@export",
    }
    assert user_options(config) == {
        "bundle_root", "ckpt_dir", "ckpt_path", "epochs", "patch_size", "val_roi_size", "alias"
    }  # fmt: skip
    assert used_options(config) == {"ckpt_path", "epochs"}  # ckpt_dir, bundle_root and alias only make other options


@pytest.mark.parametrize("config", ["train.json", "inference.json"])
@pytest.mark.parametrize("bundle", [path.parent.name for path in BUNDLES])
def test_an_unknown_option_lists_the_bundles_options_not_its_internal_ids(bundle, config):
    path = Path(__file__).resolve().parents[2] / "bundles" / bundle / config
    message = _unknown(["run", "--config_file", str(path), "--nonsense_option", "2"])
    options = user_options(ConfigParser.load_config_files([str(path)]))
    assert message == f"unknown option --nonsense_option for this bundle. Known options: {', '.join(sorted(options))}."
    assert not INTERNAL & options and {"device", "output_dir", "in_channels"} <= options
    if config == "train.json":
        assert {"epochs", "ckpt_dir", "dataset_dir", "learning_rate", "pretrained_ckpt"} <= options
    else:
        assert {"ckpt_path", "input", "roi_size", "overlap"} <= options


@pytest.mark.parametrize("bundle", [path.parent.name for path in BUNDLES])
def test_a_prefix_suggests_the_option_the_run_uses(bundle):
    folder = Path(__file__).resolve().parents[2] / "bundles" / bundle
    inference = ["run", "--config_file", str(folder / "inference.json")]
    training = ["run", "training", "--config_file", str(folder / "train.json")]
    assert "Did you mean --ckpt_path?" in _unknown([*inference, "--ckpt", "model.pt"])  # not ckpt_dir
    assert "Did you mean --ckpt_dir?" in _unknown([*training, "--ckpt", "models"])
    assert "Did you mean --ckpt_dir?" in _unknown([*inference, "--ckpt_dr", "models"])  # the closer spelling
    epoch = _unknown([*training, "--epoch", "2"])
    assert epoch.startswith("unknown option --epoch for this bundle. Did you mean --epochs? Known options: ")
    assert "Did you mean --network_def#f_maps?" in _unknown([*training, "--network_dfe#f_maps", "4"])
    check_cli_overrides(argv=[*training, "--network_def#f_maps", "4", "--train#dataloader#num_workers", "0"])
