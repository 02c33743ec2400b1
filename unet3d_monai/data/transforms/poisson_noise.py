"""Additive Poisson noise, a photon-noise augmentation."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import DtypeLike, KeysCollection, NdarrayOrTensor
from monai.data import get_track_meta
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import TransformBackends, convert_data_type, convert_to_dst_type, convert_to_tensor

__all__ = ["RandAdditivePoissonNoise", "RandAdditivePoissonNoised"]


def _check_lam(lam: Sequence[float], name: str) -> tuple[float, float]:
    if len(lam) != 2 or not 0 <= lam[0] <= lam[1]:
        raise ValueError(f"{name} lam must be a range (low, high) with 0 <= low <= high, got {tuple(lam)}.")
    return float(lam[0]), float(lam[1])


class RandAdditivePoissonNoise(RandomizableTransform):
    """Add Poisson noise to an image: ``img + n`` with ``n ~ Poisson(lam)`` drawn per voxel.

    With probability ``prob`` a rate ``lam`` is drawn uniformly from the range ``lam``, then one
    Poisson sample per element of the image is added. The noise has mean and variance ``lam``.
    Randomness comes from the transform's own generator: seed it with ``set_random_state`` (or
    through ``monai.utils.set_determinism`` / ``Compose.set_random_state``).

    Input: an image of any shape, e.g. ``(C, *spatial)``. Output: same shape, dtype ``dtype``.

    Args:
        prob: probability of adding noise.
        lam: range ``(low, high)`` of the Poisson rate.
        dtype: output data type (float32 by default), None for the input's.

    Example::

        >>> noise = RandAdditivePoissonNoise(prob=1.0, lam=(2.0, 2.0)).set_random_state(seed=0)
        >>> noise(np.zeros((1, 64, 64), dtype=np.float32)).mean()  # close to 2
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, prob: float = 0.1, lam: Sequence[float] = (0.0, 1.0), dtype: DtypeLike = np.float32) -> None:
        RandomizableTransform.__init__(self, prob)
        self.lam = _check_lam(lam, "RandAdditivePoissonNoise")
        self.dtype = dtype
        self.noise: np.ndarray | None = None

    def randomize(self, img: NdarrayOrTensor) -> None:
        """Decide whether to add noise and, if so, draw the rate and the noise for ``img``'s shape."""
        super().randomize(None)
        if not self._do_transform:
            return
        rate = self.R.uniform(self.lam[0], self.lam[1])
        self.noise = self.R.poisson(rate, size=tuple(img.shape)).astype(np.float32)

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        """Return ``img`` plus Poisson noise (drawn now unless ``randomize`` is False)."""
        img = convert_to_tensor(img, track_meta=get_track_meta())
        if randomize:
            self.randomize(img)
        if not self._do_transform:
            return img
        if self.noise is None or tuple(self.noise.shape) != tuple(img.shape):
            raise RuntimeError("RandAdditivePoissonNoise: call randomize() with an image of this shape first.")
        dtype = self.dtype if self.dtype is not None else img.dtype
        img, *_ = convert_data_type(img, dtype=dtype)
        noise, *_ = convert_to_dst_type(self.noise, img)
        return img + noise


class RandAdditivePoissonNoised(RandomizableTransform, MapTransform):
    """Dictionary-based version of :class:`RandAdditivePoissonNoise`.

    All keys get the same noise, so they must share one shape.

    Example::

        >>> t = RandAdditivePoissonNoised(keys="image", prob=0.2, lam=(0.0, 1.0))
        >>> t.set_random_state(seed=0)({"image": np.zeros((1, 8, 16, 16), dtype=np.float32)})["image"].shape
        (1, 8, 16, 16)
    """

    backend = RandAdditivePoissonNoise.backend

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.1,
        lam: Sequence[float] = (0.0, 1.0),
        dtype: DtypeLike = np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.rand_poisson_noise = RandAdditivePoissonNoise(prob=1.0, lam=lam, dtype=dtype)

    def set_random_state(
        self, seed: int | None = None, state: np.random.RandomState | None = None
    ) -> RandAdditivePoissonNoised:
        super().set_random_state(seed, state)
        self.rand_poisson_noise.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize(None)
        first_key = self.first_key(d)
        if not self._do_transform or first_key == ():
            for key in self.key_iterator(d):
                d[key] = convert_to_tensor(d[key], track_meta=get_track_meta())
            return d
        self.rand_poisson_noise.randomize(d[first_key])
        for key in self.key_iterator(d):
            d[key] = self.rand_poisson_noise(d[key], randomize=False)
        return d
