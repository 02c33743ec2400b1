"""Prediction: Gaussian sliding-window inference in memory or block-wise from disk, file writers and
post-processing into label volumes.

- :func:`predict` predicts an in-memory volume (notebooks); :func:`predict_file` and :class:`VolumePredictor`
  predict HDF5/NIfTI files and write ``<stem>_predictions.h5`` (the latter is what the bundles use).
- :class:`BlockwiseInference` with :class:`WindowGrid` predicts volumes larger than memory with the same
  global window grid, so the result equals the in-memory one.
- :class:`FittedSlidingWindowInferer` fits the window to each volume (never larger than the volume, padded
  by reflection only below the network's minimum input).
- :class:`Segmenter` turns probabilities into thresholded, argmax or instance labels.
- :func:`check_window_options` checks window size, overlap and windows per batch up front; :func:`preview_image`
  draws the central orthogonal slices of an input next to its prediction.
"""

from unet3d_monai.inference.autocast import AutocastInferer, cpu_bfloat16_enabled, native_cpu_bfloat16
from unet3d_monai.inference.blockwise import BlockwiseInference, VolumeSource, default_block_shape
from unet3d_monai.inference.model_record import (
    model_record_path,
    read_model_record,
    recorded,
    recorded_network_argument,
    write_model_record,
)
from unet3d_monai.inference.predictor import VolumePredictor, predict_file
from unet3d_monai.inference.preview import preview_image, write_preview
from unet3d_monai.inference.segmentation import (
    SegmentationMode,
    Segmenter,
    boundary_components,
    boundary_distance_watershed,
    boundary_watershed,
    connected_components,
    foreground_watershed,
)
from unet3d_monai.inference.sliding_window import predict
from unet3d_monai.inference.volumes import ArrayVolume, HDF5Volume, find_volume_files, load_nifti
from unet3d_monai.inference.window_fit import FittedSlidingWindowInferer, fit_window, network_min_window
from unet3d_monai.inference.window_grid import WindowGrid
from unet3d_monai.inference.window_options import check_window_options
from unet3d_monai.inference.window_predictor import WindowPredictor
from unet3d_monai.inference.writers import HDF5PredictionWriter, OutputDtype, write_nifti

__all__ = [
    "ArrayVolume",
    "AutocastInferer",
    "BlockwiseInference",
    "FittedSlidingWindowInferer",
    "HDF5PredictionWriter",
    "HDF5Volume",
    "OutputDtype",
    "SegmentationMode",
    "Segmenter",
    "VolumePredictor",
    "VolumeSource",
    "WindowGrid",
    "WindowPredictor",
    "boundary_components",
    "boundary_distance_watershed",
    "check_window_options",
    "boundary_watershed",
    "connected_components",
    "cpu_bfloat16_enabled",
    "default_block_shape",
    "find_volume_files",
    "fit_window",
    "foreground_watershed",
    "load_nifti",
    "model_record_path",
    "native_cpu_bfloat16",
    "network_min_window",
    "predict",
    "predict_file",
    "read_model_record",
    "recorded",
    "recorded_network_argument",
    "write_model_record",
    "preview_image",
    "write_nifti",
    "write_preview",
]
