"""A store of partial Gaussian-weighted accumulations on disk: one file per block of a volume."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np

from unet3d_monai.io.atomic import atomic_write
from unet3d_monai.io.region import Region

__all__ = ["PartialStore"]


class PartialStore:
    """Partial accumulations of block-wise prediction, one ``.npy`` file per block, each written whole or not at all.

    A block's partial is a float32 array ``(C + 1, *halo)`` over the region its windows cover: the
    Gaussian-weighted sums of the ``C`` output channels, then the summed Gaussian weights. It is written to a
    temporary name and renamed, so a file under its final name is always complete: a block whose file exists is
    finished, whichever process or machine wrote it and however the run ended. Files are read back memory-mapped,
    region by region, so a reader holds only what it asks for.

    Args:
        folder: where the files live (created if needed); shared by every process of a run.

    Example::

        store = PartialStore("out/cells_predictions.blocks/partials")
        store.write((0, 1, 0), accumulated)            # (C + 1, *halo) float32
        store.read((0, 1, 0), (slice(0, 8), slice(0, 16), slice(4, 20)))
    """

    def __init__(self, folder: str | PathLike) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: Sequence[int]) -> Path:
        """File of the block with grid index ``key``."""
        return self.folder / ("block-" + "-".join(str(int(k)) for k in key) + ".npy")

    def has(self, key: Sequence[int]) -> bool:
        """Whether the block's partial is complete on disk."""
        return self.path(key).is_file()

    def write(self, key: Sequence[int], partial: np.ndarray) -> Path:
        """Write a block's partial ``(C + 1, *halo)`` under a temporary name, then rename it into place."""
        target = self.path(key)
        with atomic_write(target) as handle:
            np.save(handle, np.ascontiguousarray(partial, dtype=np.float32))
        return target

    def read(self, key: Sequence[int], region: Region) -> np.ndarray:
        """``(C + 1, *region)`` of a block's partial, ``region`` relative to the partial's first voxel."""
        mapped = np.load(self.path(key), mmap_mode="r")
        return np.array(mapped[(slice(None), *region)])

    def remove(self, key: Sequence[int]) -> None:
        """Delete a block's partial (once every output block it contributes to is written)."""
        self.path(key).unlink(missing_ok=True)
