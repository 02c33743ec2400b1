import json

from unet3d_monai.compat.cli import main


def test_plan_command_prints_the_table_and_writes_the_plan(two_volumes, tmp_path, capsys):
    bundle = tmp_path / "tiny"
    bundle.mkdir()
    network = {
        "_target_": "unet3d_monai.networks.UNet3D",
        "in_channels": 1,
        "out_channels": 1,
        "f_maps": [4, 8, 16],
        "num_groups": 2,
    }
    (bundle / "train.json").write_text(json.dumps({"network_def": network}))
    out = tmp_path / "plan.json"
    argv = ["plan", "--dataset_dir", str(two_volumes), "--bundle", str(bundle), "--memory_budget", "1GB"]
    argv += ["--step_seconds", "none"]  # the time target is tested with a step-time model (test_plan.py)
    assert main([*argv, "--batch_size", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 training volumes, median shape [22.0, 30.0, 38.0]" in printed
    assert "pool_kernel_size  1x2x2 2x2x2" in printed
    written = json.loads(out.read_text())
    assert written["entries"]["patch_size"]["value"] == [20, 30, 36]
    assert written["entries"]["batch_size"] == {"value": 1, "reason": "given", "source": "set"}
    assert written["fingerprint"]["voxel_size"] == [8.0, 1.0, 1.0]


def test_plan_command_names_a_missing_bundle(two_volumes, capsys):
    assert main(["plan", "--dataset_dir", str(two_volumes), "--bundle", "no_such_bundle"]) == 1
    assert "--bundle no_such_bundle: no train.json there" in capsys.readouterr().err


def test_plan_command_names_a_missing_dataset_and_how_to_make_one(tmp_path, capsys):
    missing = tmp_path / "multiclass_data"
    assert main(["plan", "--dataset_dir", str(missing), "--bundle", "multiclass"]) == 1
    err = capsys.readouterr().err
    assert f"error: --dataset_dir {missing} does not exist; give a folder holding train/" in err
    assert f"python -m unet3d_monai.data.sample multiclass {missing}" in err
    assert not missing.exists()


def test_plan_command_suggests_sample_data_only_for_a_sample_task(tmp_path, capsys):
    bundle = tmp_path / "my_task"
    bundle.mkdir()
    (bundle / "train.json").write_text(json.dumps({"network_def": {"_target_": "unet3d_monai.networks.UNet3D"}}))
    assert main(["plan", "--dataset_dir", str(tmp_path / "none"), "--bundle", str(bundle / "train.json")]) == 1
    err = capsys.readouterr().err
    assert f"--dataset_dir {tmp_path / 'none'} does not exist" in err and "unet3d_monai.data.sample" not in err
