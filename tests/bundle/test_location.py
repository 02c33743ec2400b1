from pathlib import Path

from unet3d_monai.bundle import bundle_root
from unet3d_monai.bundle.location import REPOSITORY_BUNDLES

MAIN = "/env/lib/python3.11/site-packages/monai/bundle/__main__.py"


def test_bundle_root_is_the_folder_of_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert bundle_root("boundary", [MAIN, "run", "--config_file", "train.json"]) == str(tmp_path)
    assert bundle_root("boundary", [MAIN, "run", "--config_file=sub/inference.json"]) == str(tmp_path / "sub")
    merged = "['/x/boundary/train.json','/x/boundary/multi_gpu_train.json']"
    assert bundle_root("boundary", [MAIN, "run", "training", "--config_file", merged]) == "/x/boundary"


def test_bundle_root_outside_the_command_line_is_the_repository_bundle():
    assert bundle_root("nuclei", []) == str(REPOSITORY_BUNDLES / "nuclei")
    assert (Path(bundle_root("nuclei", [])) / "inference.json").is_file()
