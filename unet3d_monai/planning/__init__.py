"""Planning from the data: a dataset fingerprint (on MONAI's Auto3DSeg analyzers) and the training plan it yields
(patch, pooling, batch, normalisation, voxel size and windows), recorded with the weights; the segmentation settings
derived from the training objects and chosen on validation."""

from unet3d_monai.io.voxel_size import check_voxel_size, read_voxel_size
from unet3d_monai.planning.fingerprint import DatasetFingerprint, VolumeFingerprint, compute_fingerprint
from unet3d_monai.planning.memory import LiveTensorBytes, memory_budget, parse_memory, training_step_bytes
from unet3d_monai.planning.plan import AUTO, PlanEntry, TrainingPlan, is_auto, make_plan, plan_pooling
from unet3d_monai.planning.segmentation_choice import (
    SegmentationChoice,
    candidate_settings,
    choose_segmentation,
    departure,
    metric_score,
    nearest_to_plan,
    planned_segmenter,
)
from unet3d_monai.planning.timing import (
    StepTimeLimit,
    parse_step_seconds,
    training_step_flops,
    training_step_seconds,
)
from unet3d_monai.planning.training import plan_training

__all__ = [
    "AUTO",
    "DatasetFingerprint",
    "LiveTensorBytes",
    "PlanEntry",
    "SegmentationChoice",
    "StepTimeLimit",
    "TrainingPlan",
    "VolumeFingerprint",
    "candidate_settings",
    "check_voxel_size",
    "choose_segmentation",
    "compute_fingerprint",
    "departure",
    "is_auto",
    "make_plan",
    "memory_budget",
    "metric_score",
    "nearest_to_plan",
    "parse_memory",
    "parse_step_seconds",
    "plan_pooling",
    "plan_training",
    "planned_segmenter",
    "read_voxel_size",
    "training_step_bytes",
    "training_step_flops",
    "training_step_seconds",
]
