"""MONAI's random spatial transforms move image and label together when given both keys."""

import numpy as np
import pytest
import torch
from monai.transforms import (
    Compose,
    Rand3DElasticd,
    RandAdjustContrastd,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandRotate90d,
    RandRotated,
    RandSmoothDeformd,
)
from monai.utils import set_determinism

from unet3d_monai.data.transforms import LabelToBoundaryd, RandAdditivePoissonNoised

KEYS = ["image", "label"]


def _sample():
    rng = np.random.default_rng(0)
    label = rng.integers(1, 6, size=(1, 6, 8, 8)).repeat(2, axis=1).repeat(2, axis=2).repeat(2, axis=3)
    image = (10.0 * label + 1.0).astype(np.float32)
    return {"image": image, "label": label.astype(np.float32)}


def _geometric():
    return [
        RandFlipd(KEYS, prob=0.5, spatial_axis=0),
        RandFlipd(KEYS, prob=0.5, spatial_axis=1),
        RandFlipd(KEYS, prob=0.5, spatial_axis=2),
        RandRotate90d(KEYS, prob=0.75, max_k=3, spatial_axes=(1, 2)),
        RandRotated(KEYS, range_x=np.pi / 4, prob=1.0, mode="nearest", padding_mode="reflection"),
        Rand3DElasticd(
            KEYS, sigma_range=(3, 3), magnitude_range=(40, 40), prob=1.0, mode="nearest", padding_mode="reflection"
        ),
        RandSmoothDeformd(
            KEYS, spatial_size=(12, 16, 16), rand_size=(3, 3, 3), def_range=0.2, prob=1.0, grid_mode="nearest"
        ),
    ]


def _intensity():
    return [
        RandGaussianSmoothd("image", sigma_x=(0.1, 2.0), sigma_y=(0.1, 2.0), sigma_z=(0.1, 2.0), prob=1.0),
        RandGaussianNoised("image", prob=1.0, std=1.0),
        RandAdditivePoissonNoised("image", prob=1.0, lam=(0.0, 1.0)),
        RandAdjustContrastd("image", prob=1.0, gamma=(0.7, 1.5)),
    ]


def _run(seed, transforms):
    set_determinism(seed=seed)
    try:
        return Compose(transforms)(_sample())
    finally:
        set_determinism(seed=None)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_image_and_label_get_the_same_geometric_transform(seed):
    out = _run(seed, _geometric())
    image, label = out["image"].numpy(), out["label"].numpy()
    np.testing.assert_array_equal(image, 10.0 * label + 1.0)
    assert not np.array_equal(label, _sample()["label"])  # something moved


def test_same_seed_same_result_other_seed_other_result():
    first = _run(5, _geometric() + _intensity() + [LabelToBoundaryd("label", append_label=True)])
    second = _run(5, _geometric() + _intensity() + [LabelToBoundaryd("label", append_label=True)])
    other = _run(6, _geometric() + _intensity() + [LabelToBoundaryd("label", append_label=True)])
    for key in KEYS:
        torch.testing.assert_close(first[key], second[key])
    assert not torch.equal(first["image"], other["image"])
    assert first["label"].shape == (2, 12, 16, 16)


def test_intensity_transforms_leave_the_label_alone():
    geometric_only = _run(3, _geometric())
    with_intensity = _run(3, _geometric() + _intensity())
    torch.testing.assert_close(with_intensity["label"], geometric_only["label"])
    assert not torch.equal(with_intensity["image"], geometric_only["image"])


def test_rotation_range_x_turns_the_yx_plane():
    # the seed's RandomRotate with axes [[2, 1]] turns the (y, x) plane of (z, y, x) volumes
    image = np.zeros((1, 5, 21, 21), dtype=np.float32)
    image[0, 2, 10, 14:19] = 1.0
    out = RandRotated("image", range_x=(np.pi / 2, np.pi / 2), prob=1.0, mode="nearest")({"image": image})["image"]
    hits = np.argwhere(out.numpy()[0] > 0.5)
    assert set(hits[:, 0]) == {2}  # z untouched
    assert set(hits[:, 2]) == {10}  # the line now runs along y
    assert len(hits) == 5
