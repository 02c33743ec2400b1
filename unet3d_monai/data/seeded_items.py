"""A view of a random dataset whose item ``n`` depends only on ``n``: the same in any worker, order or resumed run."""

from __future__ import annotations

from typing import Any

import numpy as np
from monai.data.utils import set_rnd
from torch.utils.data import Dataset

__all__ = ["ItemSeededDataset"]


class ItemSeededDataset(Dataset):
    """Reads item ``n`` of ``dataset`` after seeding every random state it holds from ``(seed, n)``.

    A MONAI random dataset such as :class:`~unet3d_monai.data.RandomHDF5PatchDataset`, and the random transforms
    it applies, draw from random states that advance item after item inside each DataLoader worker: item ``n``
    then depends on the number of workers, on the worker that reads it and on every item read before it, so a run
    stopped half-way cannot continue with the samples the uninterrupted run would have read. This view re-seeds
    every randomizable part of ``dataset`` (with ``monai.data.utils.set_rnd``, which reaches the dataset's own
    ``RandomState`` and, through it, its transforms') from ``(seed, n)`` before reading item ``n``.

    ``n`` may be any non-negative number: it is the sample's number over the whole run, as
    :class:`~unet3d_monai.data.RunSampler` yields it; the wrapped dataset reads its item ``n % len(dataset)``
    (for a random dataset such as ``RandomHDF5PatchDataset`` the index only names the item). ``len()`` is the
    wrapped dataset's.

    Args:
        dataset: a map-style dataset; its randomizable parts are re-seeded per item.
        seed: the run's seed (a non-negative integer).

    Example::

        train = ItemSeededDataset(RandomHDF5PatchDataset("data/train", (32, 64, 64), num_samples=100), seed=0)
        a, b = train[12345], train[12345]     # equal: same patch, same augmentation
    """

    def __init__(self, dataset: Dataset, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
        self.dataset = dataset
        self.seed = int(seed)

    def item_seed(self, n: int) -> int:
        """The seed of item ``n``: a hash of ``(seed, n)`` (numpy's ``SeedSequence``), in ``[0, 2**32)``."""
        return int(np.random.SeedSequence((self.seed, int(n))).generate_state(1, np.uint32)[0])

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, n: int) -> Any:
        n = int(n)
        if n < 0:
            raise IndexError(f"item number {n} must be non-negative.")
        set_rnd(self.dataset, self.item_seed(n))
        return self.dataset[n % len(self.dataset)]
