"""Make the napari screenshots of docs/napari.md: a boundary prediction opened with the plugin's reader, and the
predict widget after a run.

Needs the extra (``pip install -e '.[napari]'``), a trained boundary model and a display (on a machine without one:
``xvfb-run -a``). Usage::

    python -m monai.bundle run training --config_file bundles/boundary/train.json --epochs 4 --epoch_length 20
    QT_QPA_PLATFORM=offscreen xvfb-run -a python docs/images/make_napari_screenshots.py \\
        --model bundles/boundary/models/model.pt --input bundles/boundary/data/test/boundary_test_00.h5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import napari
import numpy as np
from monai.bundle import run as run_bundle
from PIL import Image

from unet3d_monai.napari import PredictWidget, read_layers

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
#: the largest screenshot kept in the repository
MAX_BYTES = 300_000


def save_png(rgba: np.ndarray, path: Path, width: int = 1100) -> Path:
    """Save a screenshot as a PNG of at most ``width`` pixels across and 256 colours, so that it stays small."""
    image = Image.fromarray(np.asarray(rgba)[..., :3])
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{path} has {size} bytes, more than {MAX_BYTES}.")
    print(f"wrote {path} ({size // 1000} kB)")
    return path


def middle_slice(viewer: napari.Viewer) -> None:
    """Show the middle z-slice of the layers, zoomed to fit."""
    viewer.dims.ndisplay = 2
    low, high, _ = viewer.dims.range[0]
    viewer.dims.set_point(0, (low + high) / 2)
    viewer.reset_view()


def reader_screenshot(prediction: Path, path: Path) -> Path:
    """The viewer after opening ``prediction`` with the reader: the input it names, probabilities, segmentation."""
    viewer = napari.Viewer(show=False)
    viewer.window.resize(1300, 800)
    for data, kwargs, kind in read_layers(prediction):
        layer = viewer._add_layer_from_data(data, kwargs, kind)[0]
        if kind == "labels":
            layer.contour = 1
    middle_slice(viewer)
    try:
        return save_png(viewer.screenshot(canvas_only=False, flash=False), path)
    finally:
        viewer.close()


def widget_screenshot(raw: Path, model: Path, path: Path) -> Path:
    viewer = napari.Viewer(show=False)
    viewer.window.resize(1300, 850)
    for data, kwargs, kind in read_layers(raw):
        if kind == "image":
            viewer.add_image(np.asarray(data), **kwargs)
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Predict", area="right")
    widget.model.value = model
    widget.image.value = viewer.layers[0]
    widget.run()
    app = napari.qt.get_qapp()
    while widget.worker is not None:
        app.processEvents()
        time.sleep(0.05)
    app.processEvents()
    viewer.layers[-1].contour = 1
    middle_slice(viewer)
    try:
        return save_png(viewer.screenshot(canvas_only=False, flash=False), path)
    finally:
        viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "bundles" / "boundary" / "models" / "model.pt")
    parser.add_argument(
        "--input", type=Path, default=ROOT / "bundles" / "boundary" / "data" / "test" / "boundary_test_00.h5"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        run_bundle(
            config_file=str(ROOT / "bundles" / "boundary" / "inference.json"),
            input=str(args.input),
            output_dir=work,
            ckpt_path=str(args.model),
            save_segmentation=True,
            progress=False,
        )
        (prediction,) = Path(work).glob("*_predictions.h5")
        reader_screenshot(prediction, IMAGES / "napari_reader.png")
    widget_screenshot(args.input, args.model, IMAGES / "napari_predict_widget.png")


if __name__ == "__main__":
    main()
