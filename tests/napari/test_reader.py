"""The reader: prediction outputs (HDF5 and zarr) and training volumes as lazy layers at the file's voxel size."""

from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("napari", reason="the napari plugin needs the extra: pip install 'unet3d-monai[napari]'")

import dask.array as da  # noqa: E402

from tests.napari.conftest import VOXEL_SIZE  # noqa: E402
from unet3d_monai.napari.reader import get_reader  # noqa: E402


def _stored(path, key):
    if path.suffix == ".zarr":
        import zarr

        return zarr.open_group(str(path), mode="r")[key][()]
    with h5py.File(path, "r") as f:
        return f[key][()]


@pytest.mark.parametrize("output_format", ["h5", "zarr"])
def test_prediction_outputs_open_as_lazy_probabilities_and_labels_at_the_voxel_size(
    cli_predictions, cells_volume, output_format
):
    path = cli_predictions[output_format]
    reader = get_reader(str(path))
    assert reader is not None
    layers = reader(str(path))
    # the input the output names as its source, under the predictions
    assert [(kwargs["name"], kind) for _, kwargs, kind in layers] == [
        ("cells raw", "image"),
        ("cells_predictions predictions", "image"),
        ("cells_predictions segmentation", "labels"),
    ]
    (raw, raw_kwargs, _), (probabilities, image_kwargs, _), (segmentation, labels_kwargs, _) = layers
    assert isinstance(raw, da.Array) and raw_kwargs["scale"] == VOXEL_SIZE
    np.testing.assert_array_equal(raw.compute(), _stored(cells_volume, "raw"))
    assert isinstance(probabilities, da.Array) and isinstance(segmentation, da.Array)
    assert probabilities.shape == segmentation.shape == (16, 40, 40)
    assert image_kwargs["scale"] == labels_kwargs["scale"] == VOXEL_SIZE
    assert image_kwargs["contrast_limits"] == [0.0, 1.0] and image_kwargs["blending"] == "additive"
    np.testing.assert_array_equal(probabilities.compute(), _stored(path, "predictions")[0])
    np.testing.assert_array_equal(segmentation.compute(), _stored(path, "segmentation"))
    assert segmentation.dtype == np.uint32 and segmentation.max().compute() > 0


def test_an_output_whose_input_is_gone_opens_alone(cli_predictions, tmp_path):
    moved = tmp_path / "moved_predictions.h5"
    with h5py.File(cli_predictions["h5"], "r") as source, h5py.File(moved, "w") as copy:
        for key in ("predictions", "segmentation"):
            source.copy(key, copy)
        copy["predictions"].attrs["source"] = str(tmp_path / "gone.h5")
    names = [kwargs["name"] for _, kwargs, _ in get_reader(str(moved))(str(moved))]
    assert names == ["moved_predictions predictions", "moved_predictions segmentation"]


def test_a_training_volume_opens_as_raw_and_label_at_raws_voxel_size(cells_volume):
    layers = get_reader(str(cells_volume))(str(cells_volume))
    assert [(kwargs["name"], kind, kwargs["scale"]) for _, kwargs, kind in layers] == [
        ("cells raw", "image", VOXEL_SIZE),
        ("cells label", "labels", VOXEL_SIZE),
    ]
    raw, label = layers[0][0], layers[1][0]
    assert isinstance(raw, da.Array) and raw.chunksize == (1, 40, 40)  # contiguous: read a plane at a time
    np.testing.assert_array_equal(label.compute(), _stored(cells_volume, "label"))


def test_multi_channel_probabilities_are_one_layer_per_channel(tmp_path):
    path = tmp_path / "three_predictions.h5"
    with h5py.File(path, "w") as f:
        f["predictions"] = np.random.RandomState(0).rand(3, 4, 8, 8).astype(np.float32)
        f["predictions"].attrs["element_size_um"] = (2.0, 1.0, 1.0)
    ((data, kwargs, kind),) = get_reader(str(path))(str(path))
    assert kind == "image" and data.shape == (3, 4, 8, 8) and kwargs["channel_axis"] == 0
    assert kwargs["name"] == [f"three_predictions predictions {c}" for c in range(3)]
    assert kwargs["colormap"] == ["magenta", "green", "cyan"] and kwargs["scale"] == (2.0, 1.0, 1.0)


def test_files_it_does_not_know_are_left_to_other_readers(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["volume"] = np.zeros((4, 4, 4))
    text = tmp_path / "text.h5"
    text.write_text("not HDF5")
    for path in (other, text, tmp_path / "missing.h5", tmp_path / "empty.zarr"):
        assert get_reader(str(path)) is None, path


def test_the_viewer_opens_outputs_with_the_plugin(viewer, cli_predictions):
    if not hasattr(viewer, "open"):
        pytest.skip("napari's viewer needs OpenGL here (install Xvfb: pytest-xvfb then starts a virtual display)")
    from npe2 import PluginManager, PluginManifest

    import unet3d_monai.napari

    plugins = PluginManager.instance()
    registered = "unet3d-monai" not in plugins._manifests  # installed: found through its napari.manifest entry point
    if registered:
        plugins.register(PluginManifest.from_file(Path(unet3d_monai.napari.__file__).with_name("napari.yaml")))
    try:
        layers = viewer.open(str(cli_predictions["h5"]), plugin="unet3d-monai")
        names = ["cells raw", "cells_predictions predictions", "cells_predictions segmentation"]
        assert [layer.name for layer in layers] == names
        assert tuple(viewer.layers["cells_predictions segmentation"].scale) == VOXEL_SIZE
        saved = viewer.layers["cells_predictions segmentation"].save(str(cli_predictions["h5"].with_name("fix.h5")))
        with h5py.File(saved[0], "r") as f:
            np.testing.assert_array_equal(f["label"][()], _stored(cli_predictions["h5"], "segmentation"))
    finally:
        if registered:
            plugins.unregister("unet3d-monai")
