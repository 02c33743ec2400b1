"""Opening zarr (v3) stores and their arrays.

zarr is optional (``pip install 'unet3d-monai[distributed]'``): it is imported when a zarr store is first opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["import_zarr", "open_zarr_array"]


def import_zarr() -> Any:
    """The ``zarr`` module (version 3), or one sentence saying how to install it."""
    try:
        import zarr
    except ImportError as e:
        raise ImportError(
            "zarr volumes need the optional extra 'distributed': pip install 'unet3d-monai[distributed]'."
        ) from e
    if int(zarr.__version__.split(".")[0]) < 3:
        raise ImportError(f"zarr volumes need zarr 3 or later; zarr {zarr.__version__} is installed.")
    return zarr


def open_zarr_array(path: Path, key: str) -> Any:
    """The array ``key`` of the zarr store at ``path`` (or the store itself when it is one array)."""
    zarr = import_zarr()
    if not path.is_dir():
        raise FileNotFoundError(f"zarr store '{path}' does not exist.")
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as e:
        raise ValueError(f"'{path}' cannot be opened as a zarr store ({e}).") from e
    if isinstance(node, zarr.Array):
        return node
    if key not in node or not isinstance(node[key], zarr.Array):
        arrays = sorted(name for name, _ in node.arrays())
        raise KeyError(f"zarr store '{path}' has no array '{key}'; it holds {arrays or 'no arrays'}.")
    return node[key]
