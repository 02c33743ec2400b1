import numpy as np
import pytest
import torch
from monai.data import DataLoader
from monai.transforms import Compose, RandFlipd, RandGaussianNoised, RandRotate90d

from unet3d_monai.data import ItemSeededDataset, RandomHDF5PatchDataset, RunSampler


@pytest.fixture
def dataset(write_h5):
    rng = np.random.RandomState(0)
    path = write_h5("vol.h5", raw=rng.rand(12, 20, 20).astype(np.float32), label=(rng.rand(12, 20, 20) > 0.5))

    def make(seed=0):
        transform = Compose(
            [
                RandFlipd(["image", "label"], prob=0.5, spatial_axis=2),
                RandRotate90d(["image", "label"], prob=0.75, spatial_axes=(1, 2)),
                RandGaussianNoised("image", prob=0.5, std=0.1),
            ]
        )
        patches = RandomHDF5PatchDataset(path, (4, 8, 8), num_samples=5, transform=transform, seed=seed)
        return ItemSeededDataset(patches, seed=0)

    return make


def _same(a, b):
    return np.array_equal(a["patch_origin"], b["patch_origin"]) and torch.equal(
        torch.as_tensor(a["image"]), torch.as_tensor(b["image"])
    )


def test_an_item_depends_only_on_its_number(dataset):
    first, second = dataset(seed=1), dataset(seed=2)  # the wrapped datasets start from different states
    reference = [first[n] for n in (0, 1, 2, 3, 17)]
    again = [second[n] for n in (17, 3, 2, 1, 0)][::-1]  # another instance, reversed order
    assert all(_same(a, b) for a, b in zip(reference, again))
    # different numbers draw different patches or augmentations, and numbers beyond len() are valid
    assert sum(_same(reference[i], reference[j]) for i in range(5) for j in range(i + 1, 5)) == 0
    assert len(first) == 5 and reference[4]["patch_index"] == 17 % 5
    other_seed = ItemSeededDataset(first.dataset, seed=1)
    assert not all(_same(a, other_seed[n]) for a, n in zip(reference, (0, 1, 2, 3, 17)))


def test_the_number_of_workers_does_not_change_the_batches(dataset):
    def batches(num_workers):
        loader = DataLoader(dataset(), batch_size=2, sampler=RunSampler(2), num_workers=num_workers)
        iterator = iter(loader)
        return [next(iterator) for _ in range(3)]

    for a, b in zip(batches(0), batches(2)):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["patch_origin"], b["patch_origin"])


def test_bad_numbers_are_refused(dataset):
    with pytest.raises(IndexError, match="non-negative"):
        dataset()[-1]
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        ItemSeededDataset(dataset().dataset, seed=-3)
