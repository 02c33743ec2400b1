"""The napari plugin of the optional extra ``unet3d-monai[napari]``, registered with napari's npe2 engine through
the ``napari.manifest`` entry point (``napari.yaml`` in this folder).

- :func:`get_reader` opens prediction outputs (``<stem>_predictions.h5``/``.zarr``: ``predictions`` as one image
  layer per channel, ``segmentation`` as labels) and training volumes (``raw`` as an image, ``label`` as labels),
  lazily as dask arrays, at the file's voxel size.
- :func:`write_labels` saves a labels layer as the ``label`` dataset of an HDF5 file, beside the ``raw`` it was
  drawn on, ready for fine-tuning.
- :class:`PredictWidget` runs a bundle's ``inference.json`` on an image layer (:func:`predict_layer` does it
  without a GUI); :class:`TrainingMonitor` shows a training's loss and validation curves and its validation slices.

Nothing else in the package imports this folder: napari is needed only here, and Qt only by the widgets (imported
when first used). Every module uses absolute imports,
so ``import napari`` below means the napari package, not this folder.
"""

from __future__ import annotations

import importlib
from typing import Any

from unet3d_monai.napari.events import TrainingEvents, read_training_events
from unet3d_monai.napari.prediction import LayerPrediction, PredictionCancelled, bundle_defaults, predict_layer
from unet3d_monai.napari.reader import get_reader, read_layers
from unet3d_monai.napari.writer import write_labels

#: the widgets, imported when first used: they need Qt, which the reader, the writer and predict_layer do not
_WIDGETS = {"PredictWidget": "predict_widget", "TrainingMonitor": "monitor_widget"}


def __getattr__(name: str) -> Any:
    if name in _WIDGETS:
        return getattr(importlib.import_module(f"unet3d_monai.napari.{_WIDGETS[name]}"), name)
    raise AttributeError(f"module 'unet3d_monai.napari' has no attribute {name!r}")


__all__ = [
    "LayerPrediction",
    "PredictWidget",
    "PredictionCancelled",
    "TrainingEvents",
    "TrainingMonitor",
    "bundle_defaults",
    "get_reader",
    "predict_layer",
    "read_layers",
    "read_training_events",
    "write_labels",
]
