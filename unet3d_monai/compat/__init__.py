"""Compatibility with pytorch-3dunet: its checkpoints, this package's weight files, and its YAML model sections."""

from unet3d_monai.compat.checkpoint import (
    CheckpointMismatchError,
    NotACheckpointError,
    load_network_weights,
    load_pytorch3dunet_checkpoint,
)
from unet3d_monai.compat.config import network_from_pytorch3dunet_config

__all__ = [
    "load_pytorch3dunet_checkpoint",
    "load_network_weights",
    "network_from_pytorch3dunet_config",
    "CheckpointMismatchError",
    "NotACheckpointError",
]
