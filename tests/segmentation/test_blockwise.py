"""Block-wise instance segmentation with a halo and stitching: the in-memory objects, checked with scikit-image."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import adapted_rand_error

from unet3d_monai.segmentation import Segmenter
from unet3d_monai.segmentation.blockwise import BlockwiseSegmentation, required_halo

SHAPE = (48, 96, 96)


class ArraySource:
    """A probability map in memory, read region by region."""

    def __init__(self, array):
        self.array = array
        self.shape = array.shape

    def read(self, region):
        return self.array[(slice(None), *region)].astype(np.float32)


def _cells(seed=0, count=40):
    """Labels of Voronoi cells around random seeds, and a smooth boundary probability map of their walls."""
    rng = np.random.RandomState(seed)
    seeds = np.zeros(SHAPE, dtype=np.int32)
    points = rng.randint(0, SHAPE, size=(count, 3))
    seeds[tuple(points.T)] = np.arange(1, count + 1)
    _, nearest = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    cells = seeds[tuple(nearest)]
    walls = ndimage.morphological_gradient(cells, size=3) > 0
    boundary = ndimage.gaussian_filter(walls.astype(np.float32), 1.0) * 2
    return cells, np.clip(boundary + rng.rand(*SHAPE) * 0.1, 0, 1)[None]


def _nuclei(seed=1, count=60, radius=5):
    """Labels of touching spheres and a smooth foreground probability map."""
    rng = np.random.RandomState(seed)
    labels = np.zeros(SHAPE, dtype=np.int32)
    grid = np.indices(SHAPE)
    for index, centre in enumerate(rng.randint(radius, np.array(SHAPE) - radius, size=(count, 3)), start=1):
        inside = sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius**2
        labels[inside & (labels == 0)] = index
    foreground = ndimage.gaussian_filter((labels > 0).astype(np.float32), 1.0)
    return labels, foreground[None]


def _blockwise(probabilities, segmenter, block_shape, halo, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    out = np.zeros(SHAPE, dtype=np.uint32)

    def write(region, labels):
        out[region] = labels

    segmentation = BlockwiseSegmentation(segmenter, block_shape, halo, tmp_path / "work")
    count = segmentation.run(ArraySource(probabilities), write)
    assert not (tmp_path / "work").exists()
    assert count == len(np.unique(out[out > 0]))
    return out


MODES = {
    "boundary_components": _cells,
    "boundary_watershed": _cells,
    "boundary_distance_watershed": _cells,
    "foreground_components": _nuclei,
    "foreground_watershed": _nuclei,
}


@pytest.mark.parametrize("block_shape", [(24, 48, 48), (32, 40, 56)])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_blockwise_objects_are_the_in_memory_objects(mode, block_shape, tmp_path):
    truth, probabilities = MODES[mode]()
    segmenter = Segmenter(mode, threshold=0.5, min_distance=3)
    whole = segmenter(probabilities)
    halo = required_halo(segmenter, 12 if mode.startswith("foreground") else 20)
    halo = tuple(min(h, b // 2) for h, b in zip(halo, block_shape))
    blocks = _blockwise(probabilities, segmenter, block_shape, halo, tmp_path)
    error, _, _ = adapted_rand_error(whole.astype(np.int64), blocks.astype(np.int64))
    assert error <= 0.01, (mode, block_shape, error)
    # scored against the ground truth, the block-wise objects are as good as the in-memory ones
    in_memory = adapted_rand_error(truth.astype(np.int64), whole.astype(np.int64))[0]
    assert adapted_rand_error(truth.astype(np.int64), blocks.astype(np.int64))[0] <= in_memory + 0.005


class Interrupting(ArraySource):
    """Counts the regions read; raises after ``stop_after`` of them (a run killed half-way)."""

    def __init__(self, array, stop_after=None):
        super().__init__(array)
        self.reads, self.stop_after = 0, stop_after

    def read(self, region):
        if self.stop_after is not None and self.reads >= self.stop_after:
            raise KeyboardInterrupt
        self.reads += 1
        return super().read(region)


def test_an_interrupted_segmentation_resumes_from_its_finished_blocks(tmp_path):
    _, probabilities = _nuclei()
    segmenter = Segmenter("foreground_watershed", min_distance=3)
    options = dict(block_shape=(24, 48, 48), halo=(12, 15, 15), work_dir=tmp_path / "work")
    expected = _blockwise(probabilities, segmenter, options["block_shape"], options["halo"], tmp_path / "plain")
    out = np.zeros(SHAPE, dtype=np.uint32)

    def write(region, labels):
        out[region] = labels

    with pytest.raises(KeyboardInterrupt):
        BlockwiseSegmentation(segmenter, resume=True, **options).run(Interrupting(probabilities, 5), write)
    resumed = Interrupting(probabilities)
    BlockwiseSegmentation(segmenter, resume=True, **options).run(resumed, write)
    assert resumed.reads == 8 - 5  # the five blocks segmented before the interruption are not read again
    np.testing.assert_array_equal(out, expected)
    # another setting starts afresh
    fresh = Interrupting(probabilities)
    BlockwiseSegmentation(Segmenter("foreground_watershed", min_distance=4), resume=True, **options).run(fresh, write)
    assert fresh.reads == 8
