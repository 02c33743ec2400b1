"""The pytorch-3dunet checkpoints shipped in ``tests/fixtures/pytorch3dunet``: their manifest and this package's
class for each of their networks."""

import json
from pathlib import Path

from unet3d_monai.networks import ResidualUNet2D, ResidualUNet3D, ResidualUNetSE3D, UNet2D, UNet3D

#: pytorch-3dunet model name -> this package's network class
NETWORK_CLASSES = {
    "UNet3D": UNet3D,
    "ResidualUNet3D": ResidualUNet3D,
    "ResidualUNetSE3D": ResidualUNetSE3D,
    "UNet2D": UNet2D,
    "ResidualUNet2D": ResidualUNet2D,
}
#: the entries of the manifest
ENTRIES = [
    "unet3d_gcr",
    "resunet3d_softmax",
    "resunetse3d",
    "unet2d_bcr",
    "unet3d_cbr_dataparallel",
    "unet3d_regression",
]


def manifest_entries(seed_fixtures: Path) -> dict:
    """The manifest of the checkpoints: entry name -> model name, arguments, checkpoint and recorded files."""
    return json.loads((seed_fixtures / "manifest.json").read_text())
