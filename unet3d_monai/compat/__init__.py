"""Compatibility with pytorch-3dunet: its checkpoints, this package's weight files, bioimage.io model packages, its
YAML configurations (converted into bundles), and its ``train3dunet`` / ``predict3dunet`` commands."""

from unet3d_monai.compat.bioimageio import NotABioimageioModelError, is_bioimageio_package, read_bioimageio_package
from unet3d_monai.compat.checkpoint import (
    CheckpointMismatchError,
    NotACheckpointError,
    load_network_weights,
    load_pytorch3dunet_checkpoint,
)
from unet3d_monai.compat.config import network_from_pytorch3dunet_config
from unet3d_monai.compat.convert import (
    ConvertedBundle,
    convert_pytorch3dunet_config,
    read_pytorch3dunet_config,
    write_bundle,
)
from unet3d_monai.compat.notes import ConfigKeyError, ConversionNote
from unet3d_monai.compat.prediction import PredictionNetwork, predict_files
from unet3d_monai.compat.training_limits import TrainingLimits

__all__ = [
    "load_pytorch3dunet_checkpoint",
    "load_network_weights",
    "network_from_pytorch3dunet_config",
    "CheckpointMismatchError",
    "NotACheckpointError",
    "ConfigKeyError",
    "ConversionNote",
    "ConvertedBundle",
    "NotABioimageioModelError",
    "PredictionNetwork",
    "TrainingLimits",
    "convert_pytorch3dunet_config",
    "is_bioimageio_package",
    "predict_files",
    "read_bioimageio_package",
    "read_pytorch3dunet_config",
    "write_bundle",
]
