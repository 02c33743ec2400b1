"""Compatibility with pytorch-3dunet: its checkpoints, this package's weight files, bioimage.io model packages, and
pytorch-3dunet's YAML model sections."""

from unet3d_monai.compat.bioimageio import NotABioimageioModelError, is_bioimageio_package, read_bioimageio_package
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
    "NotABioimageioModelError",
    "is_bioimageio_package",
    "read_bioimageio_package",
]
