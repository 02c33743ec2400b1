"""The predict widget: the command line's arrays for an image layer, from a worker thread; errors as one sentence."""

import json

import h5py
import numpy as np
import pytest
import torch

pytest.importorskip("napari", reason="the napari plugin needs the extra: pip install 'unet3d-monai[napari]'")
pytest.importorskip("pytestqt", reason="the widget tests need pytest-qt: pip install 'unet3d-monai[test]'")

from tests.bundles._workflow import ROOT  # noqa: E402
from tests.napari.conftest import VOXEL_SIZE  # noqa: E402
from unet3d_monai.napari import predict_widget  # noqa: E402
from unet3d_monai.napari.predict_widget import PredictWidget  # noqa: E402
from unet3d_monai.napari.prediction import bundle_defaults, window_count  # noqa: E402


def _widget(viewer, model, raw):
    layer = viewer.add_image(raw, name="cells", scale=VOXEL_SIZE)
    widget = PredictWidget(viewer)
    if hasattr(viewer, "window"):
        viewer.window.add_dock_widget(widget)
    widget.model.value = model
    widget.image.value = layer
    return widget


def _run(qtbot, widget):
    worker = widget.run()
    assert worker is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)


def test_widget_predicts_the_command_lines_arrays(
    viewer, qtbot, tiny_training, cells_volume, cli_predictions, monkeypatch
):
    # bfloat16 autocast on a CPU rounds differently from one process to another (the command line ran in its own):
    # both runs compute in float32, so that the chains, not the rounding, are compared
    options = PredictWidget.options
    monkeypatch.setattr(PredictWidget, "options", lambda self: {**options(self), "cpu_bf16": "false"})
    with h5py.File(cells_volume, "r") as f:
        raw = f["raw"][()]
    with h5py.File(cli_predictions["h5"], "r") as f:
        expected_probabilities, expected_segmentation = f["predictions"][()], f["segmentation"][()]
    widget = _widget(viewer, tiny_training / "models" / "model.pt", raw)
    assert widget.bundle.value.name == "boundary"  # the record's task
    assert widget.roi_size.value == "16, 32, 32"  # the record's patch
    assert widget.save_segmentation.value is True
    _run(qtbot, widget)
    probabilities = viewer.layers["cells probabilities"]
    segmentation = viewer.layers["cells segmentation"]
    np.testing.assert_allclose(probabilities.data, expected_probabilities[0], atol=1e-5)
    np.testing.assert_array_equal(segmentation.data, expected_segmentation)
    assert segmentation.data.max() > 0
    assert tuple(probabilities.scale) == tuple(segmentation.scale) == VOXEL_SIZE
    assert probabilities.blending == "additive" and tuple(probabilities.contrast_limits) == (0.0, 1.0)
    assert widget.progress.value == widget.progress.max > 0
    assert widget.predict_button.enabled and not widget.cancel_button.enabled
    assert widget._work is None  # the temporary folder is gone


def test_options_start_at_the_bundles_defaults(viewer, tiny_training):
    widget = PredictWidget(viewer)
    widget.model.value = tiny_training / "models" / "model.pt"
    defaults = bundle_defaults(widget.bundle.value, widget.model.value)
    assert widget.options() == {**defaults, "roi_size": [16, 32, 32], "save_segmentation": True}
    # the segmentation settings the training chose on validation, as the command line takes them
    chosen = json.loads((tiny_training / "models" / "model.json").read_text())["segmentation"]["settings"]
    assert defaults["segmentation_mode"] == chosen["mode"] == "boundary_distance_watershed"
    assert [defaults[name] for name in ("threshold", "min_distance")] == [chosen["threshold"], chosen["min_distance"]]
    widget.roi_size.value = "16, x"
    with pytest.raises(ValueError, match="roi_size must be positive whole numbers"):
        widget.options()


def test_a_failure_shows_the_packages_one_sentence(viewer, qtbot, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(predict_widget, "show_error", shown.append)
    not_weights = tmp_path / "model.pt"
    not_weights.write_text("these are not weights")
    widget = _widget(viewer, not_weights, np.zeros((8, 16, 16), dtype=np.float32))
    widget.roi_size.value = "8, 16, 16"
    _run(qtbot, widget)
    assert len(shown) == 1 and "\n" not in shown[0] and "Traceback" not in shown[0]
    assert str(not_weights) in shown[0] and widget.status.value == shown[0]
    assert [layer.name for layer in viewer.layers] == ["cells"]


def test_cancel_stops_the_prediction_without_layers(viewer, qtbot, tiny_training):
    widget = _widget(viewer, tiny_training / "models" / "model.pt", np.zeros((16, 40, 40), dtype=np.float32))
    widget.run()
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=120_000)
    assert widget.status.value == "cancelled"
    assert [layer.name for layer in viewer.layers] == ["cells"]


def test_window_count_follows_monais_grid():
    assert window_count((16, 40, 40), (16, 32, 32), 0.25) == 4
    assert window_count((16, 32, 32), (16, 32, 32), 0.25) == 1
    assert window_count((1, 64, 64), (1, 32, 32), (0.5, 0.5)) == 9


def test_a_2d_image_gives_2d_layers(viewer, qtbot, tmp_path):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(ROOT / "bundles" / "dsb2018_2d" / "inference.json"))
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), tmp_path / "model.pt")
    image = np.random.RandomState(0).rand(40, 36).astype(np.float32)
    layer = viewer.add_image(image, name="nuclei", scale=(0.5, 0.5))
    widget = PredictWidget(viewer)
    widget.bundle.value = ROOT / "bundles" / "dsb2018_2d"
    widget.model.value = tmp_path / "model.pt"
    widget.image.value = layer
    assert widget.segmentation_mode.value == "foreground_watershed"
    widget.roi_size.value = "32, 32"
    _run(qtbot, widget)
    probabilities, segmentation = viewer.layers["nuclei probabilities"], viewer.layers["nuclei segmentation"]
    assert probabilities.data.shape == segmentation.data.shape == (40, 36)
    assert tuple(probabilities.scale) == tuple(segmentation.scale) == (0.5, 0.5)
    assert 0.0 <= probabilities.data.min() <= probabilities.data.max() <= 1.0
