"""The plugin's npe2 manifest: valid, and every command it names exists."""

import importlib
from pathlib import Path

import pytest

pytest.importorskip("napari", reason="the napari plugin needs the extra: pip install 'unet3d-monai[napari]'")

from npe2 import PluginManifest  # noqa: E402

import unet3d_monai.napari  # noqa: E402

MANIFEST = Path(unet3d_monai.napari.__file__).with_name("napari.yaml")


def test_manifest_is_valid_and_its_commands_exist():
    manifest = PluginManifest.from_file(MANIFEST)
    assert manifest.name == "unet3d-monai"
    for command in manifest.contributions.commands:
        module, _, name = command.python_name.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), command.python_name
    (reader,) = manifest.contributions.readers
    assert set(reader.filename_patterns) == {"*.h5", "*.hdf5", "*.zarr"} and reader.accepts_directories
    (writer,) = manifest.contributions.writers
    assert list(writer.layer_types) == ["labels"]
    assert {w.display_name for w in manifest.contributions.widgets} == {"Predict", "Training monitor"}


def test_the_package_declares_the_manifest_entry_point():
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '[project.entry-points."napari.manifest"]\nunet3d-monai = "unet3d_monai.napari:napari.yaml"' in text
    assert '"unet3d_monai.napari" = ["napari.yaml"]' in text
