"""bioimage.io model packages: export a trained network so that bioimage.io tools (ilastik, deepImageJ, Fiji,
QuPath, napari, bioimageio.core) run it. Reading a package back is :func:`unet3d_monai.compat.load_network_weights`.
"""

from unet3d_monai.export.architecture import network_definition, network_from_definition
from unet3d_monai.export.bioimageio import export_bioimageio
from unet3d_monai.export.model import ExportedModel, resolve_model, training_record

__all__ = [
    "ExportedModel",
    "export_bioimageio",
    "network_definition",
    "network_from_definition",
    "resolve_model",
    "training_record",
]
