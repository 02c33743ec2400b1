"""3D and 2D U-Nets for volumetric segmentation and regression on HDF5 volumes, built on MONAI.

The package holds components only: ``data`` (HDF5 reader, lazy patch datasets, transforms, sample data),
``networks`` (the U-Net family), ``losses``, ``metrics``, ``inference`` (sliding-window prediction and writers),
``compat`` (pytorch-3dunet checkpoints and configs, bioimage.io packages), ``export`` (bioimage.io model
packages), ``handlers`` (engine handlers for training), ``runtime`` (CPU settings applied at the start of a run),
``planning`` (dataset fingerprint and training plan) and ``bundle`` (helpers the bundles call). The MONAI
bundles in ``bundles/`` wire them into training and prediction.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBPACKAGES = (
    "bundle",
    "compat",
    "data",
    "export",
    "handlers",
    "inference",
    "losses",
    "metrics",
    "networks",
    "planning",
    "runtime",
)


def __getattr__(name: str) -> ModuleType:
    # subpackages are imported on first use, so that ``import unet3d_monai.networks`` loads the networks alone
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBPACKAGES])


__all__ = [*_SUBPACKAGES, "__version__"]
