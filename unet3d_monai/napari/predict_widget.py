"""The predict widget: a bundle's prediction of an image layer, run in a worker thread, added as layers."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import napari
import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    SpinBox,
)
from napari.qt.threading import FunctionWorker, create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QObject, Signal

from unet3d_monai.errors import explain
from unet3d_monai.inference.model_record import read_model_record
from unet3d_monai.napari.prediction import (
    LayerPrediction,
    PredictionCancelled,
    bundle_defaults,
    bundle_folders,
    predict_layer,
)
from unet3d_monai.napari.reader import PROBABILITY_COLORMAPS
from unet3d_monai.segmentation.segmenter import SegmentationMode

__all__ = ["PredictWidget", "error_sentence"]


class _Progress(QObject):
    """Carries ``(windows done, windows expected)`` from the predicting thread to the widget's thread."""

    windows = Signal(int, int)


def error_sentence(error: BaseException) -> str:
    """The one sentence the widget shows for a failed prediction: the package's own explanation of bad input
    (:func:`unet3d_monai.errors.explain`), else the first line of the error's message."""
    explained = explain(error)
    if explained is not None:
        return explained
    message = str(error).strip().splitlines()
    return message[0] if message else type(error).__name__


class PredictWidget(Container):
    """Predict an image layer with a bundle's ``inference.json`` and add the probabilities (one image layer per
    channel, ``(Z, Y, X)`` in ``[0, 1]``) and the segmentation (a labels layer) at the image's scale.

    The bundle is one of the repository's ``bundles/<task>`` folders or any folder with an ``inference.json``;
    the model is a ``model.pt`` (its record ``model.json`` beside it chooses the bundle of its task and the window).
    The options start at the bundle's defaults. The prediction runs in a worker thread (the viewer stays usable),
    with a progress bar of the windows predicted and a cancel button; it is the command line's chain, on the layer's
    data written to a temporary HDF5 file (:func:`~unet3d_monai.napari.prediction.predict_layer`), so it gives the
    same arrays. A failure shows the package's one-sentence error.

    Example::

        viewer = napari.Viewer()
        widget = PredictWidget(viewer)
        viewer.window.add_dock_widget(widget)
        widget.model.value = "bundles/boundary/models/model.pt"
        widget.run()
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        folders = bundle_folders()
        self.bundle = ComboBox(label="bundle", choices=[(p.name, p) for p in folders], nullable=not folders)
        self.bundle_folder = FileEdit(label="other bundle", mode="d", value="")
        self.model = FileEdit(label="model", mode="r", filter="*.pt", value="")
        self.image = ComboBox(label="image", choices=self._image_layers)
        self.roi_size = LineEdit(label="roi_size")
        self.overlap = FloatSpinBox(label="overlap", min=0.0, max=0.95, step=0.05)
        self.tta = CheckBox(label="tta")
        self.segmentation_mode = ComboBox(label="segmentation_mode", choices=[m.value for m in SegmentationMode])
        self.threshold = FloatSpinBox(label="threshold", min=0.0, max=1.0, step=0.05)
        self.min_size = SpinBox(label="min_size", min=0, max=2**31 - 1)
        self.min_distance = SpinBox(label="min_distance", min=0, max=10_000)
        self.save_segmentation = CheckBox(label="save_segmentation", value=True)
        self.predict_button = PushButton(text="Predict")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="windows", min=0, max=1, value=0)
        self.status = Label(value="")
        self.extend(
            [
                self.bundle,
                self.bundle_folder,
                self.model,
                self.image,
                self.roi_size,
                self.overlap,
                self.tta,
                self.segmentation_mode,
                self.threshold,
                self.min_size,
                self.min_distance,
                self.save_segmentation,
                self.predict_button,
                self.cancel_button,
                self.progress,
                self.status,
            ]
        )
        self.worker: FunctionWorker | None = None
        self._cancel = threading.Event()
        self._signals = _Progress()
        self._signals.windows.connect(self._show_progress)
        self._work: tempfile.TemporaryDirectory | None = None
        self.bundle.changed.connect(self._bundle_changed)
        self.bundle_folder.changed.connect(self._bundle_changed)
        self.model.changed.connect(self._model_changed)
        self.predict_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self.viewer.layers.events.inserted.connect(self.image.reset_choices)
        self.viewer.layers.events.removed.connect(self.image.reset_choices)
        self._bundle_changed()

    def _image_layers(self, _widget: Any = None) -> list[tuple[str, napari.layers.Image]]:
        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, napari.layers.Image)]

    @property
    def bundle_path(self) -> Path | None:
        """The bundle folder: the one chosen as "other bundle" when given, else the one of the list."""
        other = str(self.bundle_folder.value)
        if other not in ("", "."):
            return Path(other)
        return self.bundle.value

    def _bundle_changed(self, _value: Any = None) -> None:
        bundle = self.bundle_path
        if bundle is None:
            return
        default_model = bundle / "models" / "model.pt"
        if str(self.model.value) in ("", ".") or not Path(self.model.value).is_file():
            with self.model.changed.blocked():
                self.model.value = default_model
        self._load_defaults()

    def _model_changed(self, _value: Any = None) -> None:
        try:
            record = read_model_record(self.model.value) if Path(self.model.value).is_file() else None
        except ValueError as error:
            show_error(str(error))
            return
        task = (record or {}).get("task")
        by_name = {p.name: p for p in bundle_folders()}
        if task in by_name and str(self.bundle_folder.value) in ("", ".") and self.bundle.value != by_name[task]:
            with self.bundle.changed.blocked():
                self.bundle.value = by_name[task]
        self._load_defaults()

    def _load_defaults(self) -> None:
        bundle = self.bundle_path
        if bundle is None:
            return
        model = Path(self.model.value)
        try:
            defaults = bundle_defaults(bundle, model if model.is_file() else None)
        except Exception as error:  # a bad bundle folder or model record: one sentence, the widget stays usable
            show_error(error_sentence(error))
            return
        self.roi_size.value = ", ".join(str(int(r)) for r in defaults["roi_size"])
        for name in ("overlap", "tta", "segmentation_mode", "threshold", "min_size", "min_distance"):
            getattr(self, name).value = defaults[name]

    def options(self) -> dict[str, Any]:
        """The options of the run, as the command line's ``--name value`` pairs.

        Raises:
            ValueError: ``roi_size`` is not a list of positive whole numbers.
        """
        try:
            roi_size = [int(v) for v in self.roi_size.value.replace(",", " ").split()]
        except ValueError:
            roi_size = []
        if not roi_size or min(roi_size) < 1:
            raise ValueError(
                f"roi_size must be positive whole numbers such as '32, 96, 96', got '{self.roi_size.value}'."
            )
        return {
            "roi_size": roi_size,
            "overlap": float(self.overlap.value),
            "tta": bool(self.tta.value),
            "segmentation_mode": str(self.segmentation_mode.value),
            "threshold": float(self.threshold.value),
            "min_size": int(self.min_size.value),
            "min_distance": int(self.min_distance.value),
            "save_segmentation": bool(self.save_segmentation.value),
        }

    def run(self, _value: Any = None) -> FunctionWorker | None:
        """Start the prediction of the chosen image in a worker thread; returns the worker (None when the inputs
        are incomplete: the reason is shown)."""
        if self.worker is not None:
            return None
        layer = self.image.value
        bundle = self.bundle_path
        model = Path(self.model.value)
        try:
            if layer is None:
                raise ValueError("Choose an image layer to predict.")
            if bundle is None or not (bundle / "inference.json").is_file():
                raise ValueError(f"Bundle folder '{bundle}' has no inference.json.")
            if not model.is_file():
                raise ValueError(f"Model file '{model}' does not exist; train one or choose a model.pt.")
            options = self.options()
        except ValueError as error:
            show_error(str(error))
            self.status.value = str(error)
            return None
        self._cancel.clear()
        self._work = tempfile.TemporaryDirectory(prefix="unet3d-monai-napari-")
        worker = create_worker(
            predict_layer,
            layer.data,
            tuple(layer.scale),
            bundle,
            model,
            options,
            self._work.name,
            on_windows=self._signals.windows.emit,
            cancel=self._cancel,
            _start_thread=False,
            # an error goes to _failed, which shows its sentence, rather than being raised again in the viewer
            _connect={
                "returned": lambda result: self._add_layers(layer, result),
                "errored": self._failed,
                "finished": self._finished,
            },
        )
        self.worker = worker
        self.predict_button.enabled, self.cancel_button.enabled = False, True
        self.progress.min, self.progress.max, self.progress.value = 0, 0, 0
        self.status.value = f"predicting {layer.name} ..."
        worker.start()
        return worker

    def cancel(self, _value: Any = None) -> None:
        """Stop the running prediction at its next batch of windows."""
        self._cancel.set()
        self.status.value = "cancelling ..."

    def _show_progress(self, done: int, expected: int) -> None:
        if expected > 0:
            self.progress.max = expected
            self.progress.value = min(done, expected)

    def _add_layers(self, layer: napari.layers.Image, result: LayerPrediction) -> None:
        probabilities = result.probabilities
        spatial_ndim = layer.data.ndim if layer.data.ndim < 4 else 3
        if probabilities.ndim - 1 > spatial_ndim:  # a 2D image's (C, 1, Y, X)
            probabilities = probabilities[:, 0]
        placement = {"scale": tuple(layer.scale)[-spatial_ndim:], "translate": tuple(layer.translate)[-spatial_ndim:]}
        n = probabilities.shape[0]
        name = f"{layer.name} probabilities"
        self.viewer.add_image(
            probabilities if n > 1 else probabilities[0],
            channel_axis=0 if n > 1 else None,
            name=[f"{name} {c}" for c in range(n)] if n > 1 else name,
            colormap=[PROBABILITY_COLORMAPS[c % len(PROBABILITY_COLORMAPS)] for c in range(n)]
            if n > 1
            else PROBABILITY_COLORMAPS[0],
            contrast_limits=[[0.0, 1.0]] * n if n > 1 else [0.0, 1.0],
            blending="additive",
            **placement,
        )
        if result.segmentation is not None:
            segmentation = result.segmentation
            if segmentation.ndim > spatial_ndim:
                segmentation = segmentation[0]
            self.viewer.add_labels(np.asarray(segmentation), name=f"{layer.name} segmentation", **placement)
        self.status.value = f"predicted {layer.name}"

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, PredictionCancelled):
            self.status.value = "cancelled"
            show_info("The prediction was cancelled.")
            return
        sentence = error_sentence(error)
        self.status.value = sentence
        show_error(sentence)

    def _finished(self) -> None:
        self.worker = None
        self.predict_button.enabled, self.cancel_button.enabled = True, False
        self.progress.max = max(self.progress.max, 1)
        if self._work is not None:
            self._work.cleanup()
            self._work = None
