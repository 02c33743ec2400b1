import numpy as np
import pytest
import torch

from unet3d_monai.data.transforms import BlobsToMask, BlobsToMaskd


def test_mask_and_outer_boundary():
    label = np.array([[0, 0, 3, 3, 0]])
    out = BlobsToMask(boundary=True)(label)
    assert out.dtype == np.float32 and out.shape == (2, 1, 5)
    np.testing.assert_array_equal(out[0, 0], [0, 0, 1, 1, 0])
    np.testing.assert_array_equal(out[1, 0], [0, 1, 0, 0, 1])


def test_touching_blobs_and_append_label():
    label = np.zeros((1, 3, 3, 6), dtype=np.uint16)
    label[0, 1, 1, 1:3] = 4
    label[0, 1, 1, 3:5] = 9
    out = BlobsToMask(boundary=True, append_label=True)(label)
    assert out.shape == (3, 3, 3, 6)
    np.testing.assert_array_equal(out[0], label[0] > 0)
    # the outer boundary: background voxels touching a blob, and the touching faces of the two blobs
    np.testing.assert_array_equal(out[1, 1, 1], [1, 0, 1, 1, 0, 1])
    # a voxel diagonal in z and y (18-neighbourhood) is on the boundary, one diagonal in z, y and x is not
    np.testing.assert_array_equal(out[1, 0, 0], [0, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(out[2], label[0])


def test_mask_only_from_tensor():
    label = torch.tensor([[[0, 2], [2, 0]]])
    out = BlobsToMask()(label)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), [[[0, 1], [1, 0]]])


def test_dictionary_version():
    data = BlobsToMaskd(keys="label", append_label=True)({"label": np.array([[0, 5, 5]])})
    np.testing.assert_array_equal(data["label"], [[[0, 1, 1]], [[0, 5, 5]]])


def test_bad_shape():
    with pytest.raises(ValueError, match="BlobsToMask expects"):
        BlobsToMask()(np.zeros((3, 2, 4, 4)))
