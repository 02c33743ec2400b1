import numpy as np
import pytest
import torch
from monai.transforms import Compose
from monai.utils import set_determinism

from unet3d_monai.data.transforms import RandAdditivePoissonNoise, RandAdditivePoissonNoised


def test_same_seed_same_noise_other_seed_other_noise():
    image = np.zeros((1, 8, 16, 16), dtype=np.float32)
    a = RandAdditivePoissonNoise(prob=1.0).set_random_state(seed=3)(image)
    b = RandAdditivePoissonNoise(prob=1.0).set_random_state(seed=3)(image)
    c = RandAdditivePoissonNoise(prob=1.0).set_random_state(seed=4)(image)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


def test_mean_and_variance_match_the_rate():
    image = np.full((1, 128, 128), 5.0, dtype=np.float32)
    out = RandAdditivePoissonNoise(prob=1.0, lam=(3.0, 3.0)).set_random_state(seed=0)(image)
    noise = out.numpy() - 5.0
    n = noise.size
    assert abs(noise.mean() - 3.0) < 4 * np.sqrt(3.0 / n)
    assert abs(noise.var() - 3.0) < 0.15
    np.testing.assert_array_equal(noise, np.round(noise))  # integer counts
    assert noise.min() >= 0


def test_rate_drawn_from_the_range():
    transform = RandAdditivePoissonNoise(prob=1.0, lam=(2.0, 4.0)).set_random_state(seed=1)
    means = [float(transform(np.zeros((64, 64), dtype=np.float32)).mean()) for _ in range(20)]
    assert 1.9 < min(means) and max(means) < 4.1
    assert max(means) - min(means) > 0.5


def test_probability_zero_keeps_the_image():
    image = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    out = RandAdditivePoissonNoise(prob=0.0).set_random_state(seed=0)(image)
    np.testing.assert_array_equal(out.numpy(), image)


def test_dictionary_version_shares_the_noise_and_follows_set_determinism():
    data = {"image": np.zeros((1, 4, 8, 8), dtype=np.float32), "other": np.ones((1, 4, 8, 8), dtype=np.float32)}

    def run():
        set_determinism(seed=7)
        try:
            return Compose([RandAdditivePoissonNoised(keys=["image", "other"], prob=1.0, lam=(1.0, 2.0))])(data)
        finally:
            set_determinism(seed=None)

    first, second = run(), run()
    torch.testing.assert_close(first["image"], second["image"])
    torch.testing.assert_close(first["other"] - 1.0, first["image"])
    assert first["image"].dtype == torch.float32 and first["image"].sum() > 0


def test_bad_rate_range():
    with pytest.raises(ValueError, match="lam must be a range"):
        RandAdditivePoissonNoise(lam=(2.0, 1.0))
    with pytest.raises(ValueError, match="lam must be a range"):
        RandAdditivePoissonNoised(keys="image", lam=(-1.0, 1.0))
