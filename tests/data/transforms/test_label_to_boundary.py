import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from skimage.segmentation import find_boundaries

from unet3d_monai.data.transforms import LabelToBoundary, LabelToBoundaryd


def test_two_halves_thick_boundary():
    label = np.zeros((1, 4, 6), dtype=np.int64)
    label[0, :, 3:] = 1
    out = LabelToBoundary()(label)
    expected = np.zeros((1, 4, 6), dtype=np.float32)
    expected[0, :, 2:4] = 1
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def test_centre_voxel_in_3d_connectivity():
    label = np.ones((3, 3, 3), dtype=np.uint16)
    label[1, 1, 1] = 2
    # 18-neighbourhood: every voxel but the 8 corners sees the centre
    expected = np.ones((3, 3, 3), dtype=np.float32)
    for corner in np.ndindex(2, 2, 2):
        expected[tuple(2 * np.array(corner))] = 0
    np.testing.assert_array_equal(LabelToBoundary()(label)[0], expected)
    # 6-neighbourhood: the centre and the 6 face centres
    faces = np.zeros((3, 3, 3), dtype=np.float32)
    faces[1, 1, :] = faces[1, :, 1] = faces[:, 1, 1] = 1
    np.testing.assert_array_equal(LabelToBoundary(connectivity=1)(label)[0], faces)
    # 26-neighbourhood: everything
    np.testing.assert_array_equal(LabelToBoundary(connectivity=3)(label)[0], np.ones((3, 3, 3)))


@pytest.mark.parametrize(
    "mode, expected",
    [("thick", [0, 1, 1, 1, 1, 0]), ("inner", [0, 0, 1, 1, 1, 0]), ("outer", [0, 1, 0, 1, 1, 0])],
)
def test_modes(mode, expected):
    label = np.array([[0, 0, 1, 1, 2, 2]], dtype=np.int64)
    np.testing.assert_array_equal(LabelToBoundary(mode=mode)(label)[0, 0], expected)


def test_append_label_and_foreground():
    label = np.array([[[0, 0, 5, 5, 7, 7]]], dtype=np.int32)
    out = LabelToBoundary(append_label=True, foreground=True)(label)
    assert out.shape == (3, 1, 6)
    np.testing.assert_array_equal(out[0, 0], [0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(out[1, 0], [0, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(out[2, 0], [0, 0, 5, 5, 7, 7])


def test_ignore_index_is_carried_over():
    label = np.array([[1, 1, -1, -1, 2, 2]])
    out = LabelToBoundary(ignore_index=-1, append_label=True)(label)
    np.testing.assert_array_equal(out[0, 0], [0, 1, -1, -1, 1, 0])
    np.testing.assert_array_equal(out[1, 0], [1, 1, -1, -1, 2, 2])


def test_matches_skimage_on_random_labels():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 4, size=(6, 7, 8))
    expected = find_boundaries(label, connectivity=2, mode="thick")
    np.testing.assert_array_equal(LabelToBoundary()(label[None])[0], expected)


def test_tensor_and_float_labels():
    label = torch.zeros((1, 4, 6))
    label[0, :, 3:] = 3.0
    out = LabelToBoundary(mode="outer")(MetaTensor(label))
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32
    np.testing.assert_array_equal(out[0, 0].numpy(), [0, 0, 1, 0, 0, 0])


def test_64_bit_outer_boundary():
    # skimage's outer mode overflows on 64-bit labels; the transform must not
    label = np.zeros((5, 7), dtype=np.int64)
    label[2, 2:4] = 3
    out = LabelToBoundary(mode="outer")(label)[0]
    np.testing.assert_array_equal(out, find_boundaries(label.astype(np.int32), connectivity=2, mode="outer"))
    assert out[2, 2] == 0


def test_dictionary_version():
    label = np.zeros((1, 4, 6), dtype=np.int64)
    label[0, :, 3:] = 1
    data = LabelToBoundaryd(keys="label", append_label=True)({"label": label, "image": np.ones((1, 4, 6))})
    assert data["label"].shape == (2, 4, 6)
    np.testing.assert_array_equal(data["image"], np.ones((1, 4, 6)))


@pytest.mark.parametrize("shape", [(2, 4, 4, 4), (1, 1, 4, 4, 4), (5,)])
def test_bad_shape(shape):
    with pytest.raises(ValueError, match=r"LabelToBoundary expects a label of shape .*got shape"):
        LabelToBoundary()(np.zeros(shape, dtype=np.int32))


def test_bad_options():
    with pytest.raises(ValueError, match="mode"):
        LabelToBoundary(mode="subpixel")
    with pytest.raises(ValueError, match="connectivity"):
        LabelToBoundary(connectivity=0)
