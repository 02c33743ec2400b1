"""3D and 2D U-Nets for volumetric segmentation and regression on HDF5 volumes, built on MONAI.

The package holds components only, in layers that import downwards (docs/design.md): ``options`` and ``errors``
(yes/no options, one-sentence errors), ``io`` (volumes on disk: files, readers, writers, zarr stores, voxel sizes)
and ``networks`` (the U-Net family), ``runtime`` (CPU settings applied at the start of a run), ``data`` (lazy patch
datasets, statistics, transforms, sample data) and ``segmentation`` (probabilities to labels), ``losses``,
``metrics`` and ``inference`` (sliding-window and block-wise prediction), ``handlers`` (engine handlers for
training), ``planning`` (dataset fingerprint and training plan), ``export`` (bioimage.io model packages) and
``compat`` (pytorch-3dunet checkpoints and configs, bioimage.io packages, the commands), and at the top ``bundle``
(helpers the bundles call). The MONAI bundles in ``bundles/`` wire them into training and prediction.
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
    "io",
    "losses",
    "metrics",
    "networks",
    "planning",
    "runtime",
    "segmentation",
)


def __getattr__(name: str) -> ModuleType:
    # subpackages are imported on first use, so that ``import unet3d_monai.networks`` loads the networks alone
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBPACKAGES])


__all__ = [*_SUBPACKAGES, "__version__"]
