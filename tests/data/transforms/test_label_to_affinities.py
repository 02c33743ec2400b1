import itertools

import numpy as np
import pytest
import torch

from unet3d_monai.data.transforms import LabelToAffinities, LabelToAffinitiesd


def _brute_force(label, offsets):
    out = np.zeros((len(offsets), *label.shape), dtype=np.float32)
    for c, offset in enumerate(offsets):
        for index in itertools.product(*[range(n) for n in label.shape]):
            other = tuple(i + o for i, o in zip(index, offset))
            if all(0 <= j < n for j, n in zip(other, label.shape)):
                out[(c, *index)] = float(label[index] != 0 and label[index] == label[other])
    return out


def test_tiny_example():
    label = np.array([[1, 1, 2, 0]])
    out = LabelToAffinities(offsets=[[0, 1], [0, -1]])(label)
    np.testing.assert_array_equal(out, [[[1, 0, 0, 0]], [[0, 1, 0, 0]]])


def test_2d_hand_checked():
    label = np.array(
        [
            [1, 1, 2],
            [1, 2, 2],
            [0, 0, 2],
        ]
    )
    out = LabelToAffinities(offsets=[[1, 0], [0, 1], [0, 2]])(label)
    np.testing.assert_array_equal(out[0], [[1, 0, 1], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(out[1], [[1, 0, 0], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(out[2], [[0, 0, 0], [0, 0, 0], [0, 0, 0]])


def test_matches_brute_force_3d():
    rng = np.random.default_rng(1)
    label = rng.integers(0, 3, size=(4, 5, 6))
    offsets = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, -2, 3], [-3, 0, -1]]
    out = LabelToAffinities(offsets=offsets)(label[None])
    assert out.shape == (5, 4, 5, 6) and out.dtype == np.float32
    np.testing.assert_array_equal(out, _brute_force(label, offsets))


def test_offset_longer_than_axis_gives_zero():
    out = LabelToAffinities(offsets=[[0, 0, 7]])(np.ones((2, 2, 3), dtype=np.int64))
    np.testing.assert_array_equal(out, np.zeros((1, 2, 2, 3)))


def test_ignore_index_and_append_label():
    label = np.array([[1, 1, 9, 1]])
    out = LabelToAffinities(offsets=[[0, 1]], ignore_index=9, append_label=True)(label)
    # voxel 1's neighbour is ignored, voxel 2 is ignored itself
    np.testing.assert_array_equal(out[0, 0], [1, 9, 9, 0])
    np.testing.assert_array_equal(out[1, 0], [1, 1, 9, 1])


def test_dictionary_version_with_tensor():
    t = LabelToAffinitiesd(keys="label", offsets=[[1, 0, 0], [0, 1, 0], [0, 0, 1]], append_label=True)
    out = t({"label": torch.ones((1, 4, 8, 8), dtype=torch.int64)})["label"]
    assert isinstance(out, torch.Tensor) and out.shape == (4, 4, 8, 8)
    assert out[0, :3].eq(1).all() and out[0, 3].eq(0).all()


def test_bad_offsets_and_shapes():
    with pytest.raises(ValueError, match="at least one offset"):
        LabelToAffinities(offsets=[])
    with pytest.raises(ValueError, match="2 or all have 3 components"):
        LabelToAffinities(offsets=[[1, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match="nonzero"):
        LabelToAffinities(offsets=[[0, 0, 0]])
    with pytest.raises(ValueError, match="3 spatial dimensions, got shape \\(2, 4, 4, 4\\)"):
        LabelToAffinities(offsets=[[1, 0, 0]])(np.zeros((2, 4, 4, 4)))
