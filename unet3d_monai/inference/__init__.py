"""Prediction: Gaussian sliding-window inference in memory or block-wise from disk, file writers and
post-processing into label volumes.

- The prediction chain of a file, as the bundles' ``inference.json`` spells it out: :class:`LoadVolumed` (then
  ``unet3d_monai.data.Normalized`` and :class:`ToModelGridd`, resampling to the model's voxel size),
  :class:`FittedSlidingWindowInferer` running :class:`WindowPredictor` (activation and flips of each window, bfloat16
  on CPUs that compute it) inside :class:`OutOfMemoryFallback`, then :class:`ToInputGridd`, :class:`Segmentd`,
  :class:`WritePredictionsd` and :class:`WritePreviewd`. Every volume goes through it: one too large for memory as a
  :class:`VolumeOnDisk` that the inferer predicts block by block into :class:`PredictionsOnDisk` and the writer
  writes region by region; :func:`select_inputs` and :func:`check_prediction` pick and check the inputs from the
  chain's steps, :func:`collate_volumes` and :func:`prepare_volume_batch` carry volumes on disk through MONAI's
  loader and evaluator.
- :func:`predict` predicts an in-memory volume (notebooks); :func:`predict_file` and :class:`VolumePredictor`
  predict HDF5/NIfTI/zarr files with the same chain and write ``<stem>_predictions.h5``.
- :class:`BlockwisePrediction` is the inferer's block-wise engine: MONAI's ``PatchInferer`` per block,
  :class:`FittedWindowSplitter` (the volume's global window grid) and :class:`GaussianWeightedMerger` (partial
  sums on disk), so the result equals the in-memory one; in this process or on a Dask cluster
  (``scheduler=``, :mod:`unet3d_monai.inference.distributed`).
- :class:`FittedSlidingWindowInferer` fits the window to each volume (never larger than the volume, padded
  by reflection only below the network's minimum input).
- :class:`Segmenter` turns probabilities into thresholded, argmax or instance labels.
- :func:`check_window_options` checks window size, overlap and windows per batch up front; :func:`preview_image`
  draws the central orthogonal slices of an input next to its prediction.
"""

from unet3d_monai.inference.autocast import AutocastInferer, cpu_bfloat16_enabled, native_cpu_bfloat16
from unet3d_monai.inference.block_prediction import BlockPlan, BlockwisePrediction, default_block_shape
from unet3d_monai.inference.chain_checks import check_prediction, select_inputs
from unet3d_monai.inference.inferer import FittedSlidingWindowInferer
from unet3d_monai.inference.load_volume import LoadVolumed
from unet3d_monai.inference.memory_fallback import OutOfMemoryFallback
from unet3d_monai.inference.merger import GaussianWeightedMerger
from unet3d_monai.inference.model_grid import ToInputGridd, ToModelGridd
from unet3d_monai.inference.model_record import (
    model_record_path,
    read_model_record,
    recorded,
    recorded_network_argument,
    recorded_segmentation,
    update_model_record,
    write_model_record,
)
from unet3d_monai.inference.on_disk import LabelsOnDisk, PredictionsOnDisk, StoredLabels, VolumeOnDisk, VoxelwiseLabels
from unet3d_monai.inference.predictor import VolumePredictor, predict_file
from unet3d_monai.inference.preview import preview_image, write_preview
from unet3d_monai.inference.resampled_volume import ResampledVolume
from unet3d_monai.inference.segmentd import Segmentd
from unet3d_monai.inference.sliding_window import predict
from unet3d_monai.inference.splitter import FittedWindowSplitter, VolumeBlock
from unet3d_monai.inference.volume_batch import collate_volumes, prepare_volume_batch
from unet3d_monai.inference.volumes import ArrayVolume, HDF5Volume, find_volume_files, load_nifti
from unet3d_monai.inference.window_fit import fit_window, network_min_window
from unet3d_monai.inference.window_options import check_window_options
from unet3d_monai.inference.window_predictor import WindowPredictor
from unet3d_monai.inference.write_predictions import WritePredictionsd, WritePreviewd
from unet3d_monai.io.writers import HDF5PredictionWriter, OutputDtype, write_nifti
from unet3d_monai.segmentation.segmenter import (
    SegmentationMode,
    Segmenter,
    boundary_components,
    boundary_distance_watershed,
    boundary_watershed,
    connected_components,
    foreground_watershed,
    merge_weak_borders,
)

__all__ = [
    "ArrayVolume",
    "AutocastInferer",
    "BlockPlan",
    "BlockwisePrediction",
    "FittedSlidingWindowInferer",
    "FittedWindowSplitter",
    "GaussianWeightedMerger",
    "HDF5PredictionWriter",
    "HDF5Volume",
    "LoadVolumed",
    "OutOfMemoryFallback",
    "OutputDtype",
    "ResampledVolume",
    "SegmentationMode",
    "Segmentd",
    "Segmenter",
    "ToInputGridd",
    "ToModelGridd",
    "VolumePredictor",
    "VolumeBlock",
    "VolumeOnDisk",
    "PredictionsOnDisk",
    "LabelsOnDisk",
    "StoredLabels",
    "VoxelwiseLabels",
    "check_prediction",
    "select_inputs",
    "collate_volumes",
    "prepare_volume_batch",
    "WindowPredictor",
    "WritePredictionsd",
    "WritePreviewd",
    "boundary_components",
    "boundary_distance_watershed",
    "merge_weak_borders",
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
    "recorded_segmentation",
    "update_model_record",
    "write_model_record",
    "preview_image",
    "write_nifti",
    "write_preview",
]
