import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from unet3d_monai.data.normalize import Normalize, Normalized
from unet3d_monai.data.stats import VolumeStats

STATS = VolumeStats(mean=10.0, std=4.0, min=2.0, max=22.0, p_low=4.0, p_high=20.0)
X = np.array([[[2.0, 10.0, 22.0], [4.0, 20.0, 14.0]]], dtype=np.float64)  # (1, 2, 3)


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("standardize", (X - 10.0) / 4.0),
        ("percentile", (X - 4.0) / (16.0 + 1e-10)),
        ("minmax", (X - 2.0) / (20.0 + 1e-10)),
        ("none", X),
    ],
)
def test_normalize_with_given_stats(mode, expected):
    out = Normalize(mode)(X, STATS)
    assert out.dtype == np.float32 and out.shape == X.shape
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    out_t = Normalize(mode)(torch.from_numpy(X), STATS.to_dict())
    assert out_t.dtype == torch.float32
    np.testing.assert_allclose(out_t.numpy(), expected, rtol=1e-6)


def test_normalize_own_stats_matches_numpy():
    rng = np.random.RandomState(3)
    x = rng.normal(3.0, 2.0, size=(1, 5, 6, 7)).astype(np.float32)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(Normalize("standardize")(x), (x64 - x64.mean()) / x64.std(), rtol=1e-5, atol=1e-5)
    lo, hi = np.percentile(x64, (1.0, 99.6))
    np.testing.assert_allclose(Normalize("percentile")(x), (x64 - lo) / (hi - lo), rtol=1e-5, atol=1e-5)
    clipped = Normalize("percentile", clip=True)(x)
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_standardize_constant_volume_uses_eps():
    out = Normalize("standardize", eps=0.5)(np.full((1, 2, 2), 3.0), VolumeStats(3.0, 0.0, 3.0, 3.0, 3.0, 3.0))
    np.testing.assert_array_equal(out, np.zeros((1, 2, 2), np.float32))


def test_metatensor_meta_is_kept():
    img = MetaTensor(torch.ones(1, 2, 2, 2) * 14.0, meta={"filename_or_obj": "a.h5"})
    out = Normalize("standardize")(img, STATS)
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "a.h5"
    assert torch.allclose(out.as_tensor(), torch.ones(1, 2, 2, 2))


def test_normalized_uses_sample_stats_then_own_stats():
    t = Normalized(["image"], mode="standardize")
    d = t({"image": X, "image_stats": STATS.to_dict(), "label": X})
    np.testing.assert_allclose(d["image"], (X - 10.0) / 4.0, rtol=1e-6)
    np.testing.assert_array_equal(d["label"], X)  # untouched
    d2 = t({"image": X})
    np.testing.assert_allclose(d2["image"], (X - X.mean()) / X.std(), rtol=1e-6)


def test_bad_options():
    with pytest.raises(ValueError, match="clip=True needs mode"):
        Normalize("standardize", clip=True)
    with pytest.raises(ValueError, match="zscore"):
        Normalize("zscore")
    with pytest.raises(ValueError, match=r"percentiles \(1.0, 99.6\).*\(2.0, 98.0\)"):
        Normalize("percentile")(X, VolumeStats(0, 1, 0, 1, 0, 1, q_low=2.0, q_high=98.0))
