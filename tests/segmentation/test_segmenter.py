import numpy as np
import pytest
from scipy import ndimage

from unet3d_monai.segmentation import (
    Segmenter,
    boundary_components,
    boundary_watershed,
    connected_components,
    foreground_watershed,
)


def _two_cells():
    """A 6x10x12 boundary map: a wall at x = 5..6 splits two cells; the outer faces are boundary too."""
    boundary = np.full((6, 10, 12), 0.1, dtype=np.float32)
    boundary[:, :, 5:7] = 0.9
    boundary[:, :, 5] = 0.95  # the wall's ridge is at x = 5
    return boundary


def test_boundary_components_are_the_cell_interiors():
    labels = boundary_components(_two_cells(), threshold=0.5)
    assert labels.dtype == np.uint32
    assert set(np.unique(labels)) == {0, 1, 2}
    np.testing.assert_array_equal(labels[:, :, :5], 1)
    np.testing.assert_array_equal(labels[:, :, 5:7], 0)
    np.testing.assert_array_equal(labels[:, :, 7:], 2)


def test_seeded_watershed_fills_the_boundary_up_to_the_ridge():
    labels = boundary_watershed(_two_cells(), threshold=0.5)
    assert (labels > 0).all()
    # the wall voxels go to the nearest basin: x=5 (ridge, adjacent to cell 1) and x=6 to cell 2
    np.testing.assert_array_equal(labels[:, :, :6], 1)
    np.testing.assert_array_equal(labels[:, :, 6:], 2)


def test_watershed_without_seeds_is_empty():
    assert boundary_watershed(np.ones((4, 4, 4)), threshold=0.5).max() == 0


def test_connected_components_agree_with_scipy_and_drop_small_objects():
    mask = np.random.RandomState(0).rand(12, 15, 13) > 0.6
    labels = connected_components(mask)
    reference, count = ndimage.label(mask)
    assert labels.max() == count
    # same partition: a one-to-one mapping between label values
    pairs = set(zip(labels[mask].tolist(), reference[mask].tolist()))
    assert len(pairs) == count
    sizes = np.bincount(reference.ravel())[1:]
    kept = connected_components(mask, min_size=3)
    assert kept.max() == int((sizes >= 3).sum())
    assert set(np.unique(kept)) == set(range(int((sizes >= 3).sum()) + 1))


def test_foreground_watershed_splits_touching_blobs():
    z, y, x = np.mgrid[:16, :16, :28]
    first = (z - 8) ** 2 + (y - 8) ** 2 + (x - 8) ** 2 <= 36
    second = (z - 8) ** 2 + (y - 8) ** 2 + (x - 19) ** 2 <= 36
    probabilities = np.where(first | second, 0.9, 0.1)
    assert connected_components(probabilities > 0.5).max() == 1  # the blobs touch
    labels = foreground_watershed(probabilities, threshold=0.5, min_distance=4)
    assert labels.max() == 2
    assert labels[8, 8, 8] != labels[8, 8, 19] and labels[8, 8, 8] > 0 and labels[8, 8, 19] > 0
    np.testing.assert_array_equal(labels > 0, first | second)


def test_segmenter_modes():
    probabilities = np.array([[[0.2, 0.7]], [[0.8, 0.3]]], dtype=np.float32)[:, None]  # (2, 1, 1, 2)
    np.testing.assert_array_equal(Segmenter("argmax")(probabilities), [[[1, 0]]])
    np.testing.assert_array_equal(Segmenter("threshold", 0.5)(probabilities[:1]), [[[0, 1]]])
    assert Segmenter("threshold")(probabilities).shape == (2, 1, 1, 2)
    with pytest.raises(ValueError, match="one-channel"):
        Segmenter("boundary_watershed")(probabilities)
    with pytest.raises(ValueError):
        Segmenter("otsu")


def test_distance_watershed_keeps_cells_apart_through_a_gap_in_their_wall():
    """Two 3D cells separated by a wall with a hole: interior components merge them, distance seeds do not."""
    from skimage.metrics import adapted_rand_error

    from unet3d_monai.segmentation import boundary_distance_watershed, boundary_watershed

    truth = np.ones((10, 16, 33), dtype=np.int64)
    truth[:, :, 17:] = 2
    boundary = np.zeros(truth.shape, dtype=np.float32)
    boundary[:, :, 16:18] = 1.0
    boundary[4:6, 7:9, 16:18] = 0.0  # the gap
    merged = boundary_watershed(boundary, threshold=0.5)
    split = boundary_distance_watershed(boundary, threshold=0.5, min_distance=3)
    assert merged.max() == 1
    assert split.max() == 2 and split.dtype == np.uint32 and split.min() >= 1
    assert adapted_rand_error(truth, split.astype(np.int64))[0] < 0.01
    assert adapted_rand_error(truth, merged.astype(np.int64))[0] > 0.3
    via_segmenter = Segmenter("boundary_distance_watershed", threshold=0.5, min_distance=3)(boundary[None])
    np.testing.assert_array_equal(via_segmenter, split)


def test_distance_watershed_of_an_all_boundary_map_is_empty():
    from unet3d_monai.segmentation import boundary_distance_watershed

    assert boundary_distance_watershed(np.ones((4, 5, 6), np.float32)).max() == 0


def test_distance_watershed_merges_the_splits_of_long_cells_but_not_cells():
    """Two 4x80-voxel cells under a noisy interior: their distance ridges give many seeds per cell; the splits
    run through the interior (probability below 0.2), so merging borders below the threshold leaves the two cells,
    whose wall (0.9 and more) stays (a wall with a gap: the test above)."""
    from skimage.metrics import adapted_rand_error

    from unet3d_monai.segmentation import boundary_distance_watershed

    rng = np.random.default_rng(0)
    truth = np.ones((1, 21, 80), dtype=np.int64)
    truth[:, 11:] = 2
    boundary = rng.uniform(0.0, 0.2, truth.shape).astype(np.float32)
    boundary[:, 10, :] = 0.9 + rng.uniform(0.0, 0.1, 80)
    boundary[:, 0, :] = boundary[:, -1, :] = 1.0
    split = boundary_distance_watershed(boundary, min_distance=3, merge_weak=False)
    cells = boundary_distance_watershed(boundary, min_distance=3)
    assert split.max() > 10
    assert cells.max() == 2
    assert adapted_rand_error(truth, cells.astype(np.int64))[0] < 0.1
    assert adapted_rand_error(truth, split.astype(np.int64))[0] > 0.5


def test_merge_weak_borders_by_hand():
    from unet3d_monai.segmentation import merge_weak_borders

    # borders (pairs along x, the larger probability of each): 1|2 (0.1 + 0.2) / 2 = 0.15; 2|3 (0.3 + 0.3) / 2 = 0.3;
    # 3|4 (0.6 + 0.4) / 2 = 0.5; merged first 1|2, then (1+2)|3 = 0.3 again
    labels = np.array([[1, 2, 3, 4], [1, 2, 3, 4]])
    boundary = np.array([[0.0, 0.1, 0.3, 0.6], [0.1, 0.2, 0.3, 0.4]])
    assert merge_weak_borders(labels, boundary, 0.5).tolist() == [[1, 1, 1, 2], [1, 1, 1, 2]]
    assert merge_weak_borders(labels, boundary, 0.51).tolist() == [[1, 1, 1, 1], [1, 1, 1, 1]]
    assert merge_weak_borders(labels, boundary, 0.2).tolist() == [[1, 1, 2, 3], [1, 1, 2, 3]]
    assert merge_weak_borders(labels, boundary, 0.05).tolist() == labels.tolist()
    # mean linkage: a segment 2 in the gap of the wall between 1 and 3 joins one of them, not both:
    # 2|3 = 0.2 (one pair), 1|2 = (0.1 + 0.9 + 0.9) / 3 = 0.63, 1|3 = 0.9 (four pairs);
    # after 2+3, 1|(2+3) = (4 * 0.9 + 1.9) / 7 = 0.79 stays
    labels = np.array([[1, 1, 3], [1, 1, 3], [1, 2, 3], [1, 1, 3], [1, 1, 3]])
    boundary = np.array([[0, 0.9, 0], [0, 0.9, 0], [0, 0.1, 0.2], [0, 0.9, 0], [0, 0.9, 0]])
    assert merge_weak_borders(labels, boundary, 0.5).tolist() == [[1, 1, 2]] * 2 + [[1, 2, 2]] + [[1, 1, 2]] * 2
    # background stays background and separates nothing
    assert merge_weak_borders(np.array([[1, 0, 2]]), np.zeros((1, 3)), 0.5).tolist() == [[1, 0, 2]]
    with pytest.raises(ValueError, match="same shape"):
        merge_weak_borders(labels, boundary[:1], 0.5)


def _physical_spheres(spacing, shape, centres, radius):
    """Labels of balls of ``radius`` (physical units) around ``centres`` (physical), sampled on voxels of
    ``spacing``; a voxel in two balls goes to the first."""
    axes = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    labels = np.zeros(shape, dtype=np.uint32)
    for index, centre in enumerate(centres, start=1):
        inside = sum((a - c) ** 2 for a, c in zip(axes, centre)) <= radius**2
        labels[inside & (labels == 0)] = index
    return labels


def _touching_flat_nuclei():
    """Two touching balls of radius 10 um, 17 um apart, on voxels 4 um deep and 1 um wide: 5 slices thick."""
    spacing = (4.0, 1.0, 1.0)
    truth = _physical_spheres(spacing, (11, 30, 47), [(20.0, 15.0, 15.0), (20.0, 15.0, 32.0)], 10.0)
    return spacing, truth


def test_foreground_watershed_with_the_voxel_size_splits_flat_touching_nuclei_in_two():
    spacing, truth = _touching_flat_nuclei()
    probabilities = np.where(truth > 0, 0.9, 0.1).astype(np.float32)
    assert connected_components(probabilities > 0.5).max() == 1  # the nuclei touch
    # as cubes, the distance to the edge is flat across most of each nucleus's middle slice: many seeds
    assert foreground_watershed(probabilities, min_distance=5).max() == 6
    labels = foreground_watershed(probabilities, min_distance=5, sampling=spacing)
    assert labels.max() == 2
    np.testing.assert_array_equal(labels > 0, truth > 0)
    # each nucleus is (almost) one label: the watershed line lies on the touching face
    for nucleus in (1, 2):
        inside = labels[truth == nucleus]
        assert np.mean(inside == np.bincount(inside).argmax()) > 0.98
    assert labels[5, 15, 15] != labels[5, 15, 32]
    # the same through the Segmenter; any unit, only the ratios count
    np.testing.assert_array_equal(
        Segmenter("foreground_watershed", min_distance=5)(probabilities[None], sampling=(2.0, 0.5, 0.5)), labels
    )


def test_isotropic_sampling_gives_exactly_the_cube_result():
    from unet3d_monai.segmentation import boundary_distance_watershed

    rng = np.random.RandomState(4)
    blobs = ndimage.gaussian_filter(rng.rand(14, 20, 22), 2.0)
    probabilities = (blobs - blobs.min()) / (blobs.max() - blobs.min())
    cubes = foreground_watershed(probabilities, threshold=0.5, min_distance=2)
    assert cubes.max() >= 3
    for sampling in [(1.0, 1.0, 1.0), (0.3, 0.3, 0.3)]:
        np.testing.assert_array_equal(foreground_watershed(probabilities, 0.5, 2, sampling=sampling), cubes)
        np.testing.assert_array_equal(
            boundary_distance_watershed(1 - probabilities, 0.5, 3, sampling=sampling),
            boundary_distance_watershed(1 - probabilities, 0.5, 3),
        )
    # an anisotropic sampling does change it
    assert not np.array_equal(foreground_watershed(probabilities, 0.5, 2, sampling=(3.0, 1.0, 1.0)), cubes)


def test_distance_seeds_follow_the_voxel_size():
    from unet3d_monai.segmentation.segmenter import distance_seeds, relative_sampling

    assert relative_sampling([2.0, 0.25, 0.25], 3) == (8.0, 1.0, 1.0)
    assert relative_sampling([0.5, 0.5], 2) is None and relative_sampling(None, 3) is None
    with pytest.raises(ValueError, match="voxel size of each of the 3 spatial axes"):
        relative_sampling([1.0, 0.5], 3)
    with pytest.raises(ValueError, match="voxel size of each of the 2 spatial axes"):
        foreground_watershed(np.ones((4, 4)), sampling=[1.0, 0.0])
    # a slab 3 slices deep, 9 voxels wide (z 4 times coarser): one seed, in the centre of its middle slice
    mask = np.zeros((5, 13, 13), dtype=bool)
    mask[1:4, 2:11, 2:11] = True
    seeds = distance_seeds(mask, min_distance=4, sampling=(4.0, 1.0, 1.0))
    assert seeds.max() == 1 and tuple(np.argwhere(seeds)[0]) == (2, 6, 6)
    # two blocks whose distance maxima (3, equal) are 8 voxels apart along x, joined by a thin bridge: two seeds
    # at min_distance 7, one at min_distance 8 (the other lies within 8 voxels of it on every axis)
    blocks = np.zeros((5, 7, 17), dtype=bool)
    blocks[1:4, 1:6, 2:7] = blocks[1:4, 1:6, 10:15] = True
    blocks[2, 3, 7:10] = True
    assert distance_seeds(blocks, 7, sampling=(2.0, 1.0, 1.0)).max() == 2
    assert distance_seeds(blocks, 8, sampling=(2.0, 1.0, 1.0)).max() == 1
    # a line one voxel wide along the fine axis: distance 5 (its fine-axis neighbours) on x = 6..8, one seed there;
    # a second, separate line gets its own
    lines = np.zeros((3, 5, 15), dtype=bool)
    lines[1, 1, 2:13] = lines[1, 3, 2:13] = True
    seeds = distance_seeds(lines, 3, sampling=(5.0, 5.0, 1.0))
    assert seeds.max() == 2 and sorted(map(tuple, np.argwhere(seeds))) == [(1, 1, 6), (1, 3, 6)]


def test_min_distance_counts_the_unit_given():
    """With ``unit`` (e.g. the finest voxel of the training data), ``min_distance`` counts that length, not the
    input's finest voxel: on voxels twice as long as the unit, seeds 16 units apart are seeds 8 voxels apart."""
    from unet3d_monai.segmentation.segmenter import distance_seeds, relative_sampling

    assert relative_sampling([0.125, 0.125, 0.125], 3, unit=0.25) == (0.5, 0.5, 0.5)
    assert relative_sampling([0.5, 0.25, 0.25], 3, unit=0.25) == (2.0, 1.0, 1.0)
    assert relative_sampling([0.25, 0.25], 2, unit=0.25) is None  # the model's own voxels: as cubes
    with pytest.raises(ValueError, match="unit must be a positive length"):
        relative_sampling([1.0, 1.0], 2, unit=0.0)
    # the blocks of test_distance_seeds_follow_the_voxel_size: maxima 8 voxels apart along x
    blocks = np.zeros((5, 7, 17), dtype=bool)
    blocks[1:4, 1:6, 2:7] = blocks[1:4, 1:6, 10:15] = True
    blocks[2, 3, 7:10] = True
    assert distance_seeds(blocks, 14, sampling=(2.0, 1.0, 1.0), unit=0.5).max() == 2
    assert distance_seeds(blocks, 16, sampling=(2.0, 1.0, 1.0), unit=0.5).max() == 1
    # through the Segmenter, in microns: voxels of 0.5 um, min_distance in units of 0.25 um
    foreground = np.where(blocks, 0.9, 0.1)[None]
    segmenter = Segmenter("foreground_watershed", min_distance=14)
    assert segmenter(foreground, sampling=(1.0, 0.5, 0.5), unit=0.25).max() == 2  # 3.5 um: 7 voxels
    assert segmenter(foreground, sampling=(1.0, 0.5, 0.5)).max() == 1  # 14 voxels of 0.5 um
