"""Fixtures for the HDF5 data tests: tiny files written on the fly."""

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest


@pytest.fixture
def write_h5(tmp_path: Path) -> Callable[..., Path]:
    """``write_h5(name, raw=array, label=array, chunks=None)`` writes ``tmp_path/name`` and returns its path."""

    def write(name: str, chunks: tuple[int, ...] | None = None, **datasets: np.ndarray) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            for key, value in datasets.items():
                value = np.asarray(value)
                c = chunks if chunks is not None and len(chunks) == value.ndim else None
                f.create_dataset(key, data=value, chunks=c)
        return path

    return write
