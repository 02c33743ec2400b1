import numpy as np
import pytest
import torch
from skimage.measure import label as connected_components

from unet3d_monai.data.transforms import Relabel, Relabeld


def test_consecutive_ids_keep_order():
    out = Relabel(run_cc=False)(np.array([[10, 10, 0, 6, 6]]))
    np.testing.assert_array_equal(out, [[2, 2, 0, 1, 1]])
    assert out.dtype == np.int64


def test_no_background_keeps_every_instance():
    np.testing.assert_array_equal(Relabel(run_cc=False)(np.array([[4, 8, 8]])), [[1, 2, 2]])


def test_connected_components_split_pieces():
    out = Relabel()(np.array([[5, 0, 5, 5, 2]]))
    np.testing.assert_array_equal(out, [[1, 0, 2, 2, 3]])


def test_connectivity_on_a_diagonal():
    label = np.array([[3, 0], [0, 3]])
    np.testing.assert_array_equal(Relabel(connectivity=1)(label), [[1, 0], [0, 2]])
    np.testing.assert_array_equal(Relabel(connectivity=2)(label), [[1, 0], [0, 1]])


def test_matches_skimage_and_keeps_shape():
    rng = np.random.default_rng(2)
    label = rng.integers(0, 3, size=(1, 6, 7, 8)).astype(np.float32)
    out = Relabel()(torch.as_tensor(label))
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (1, 6, 7, 8)
    np.testing.assert_array_equal(out.numpy()[0], connected_components(label[0].astype(int), background=0))


def test_other_background_value():
    np.testing.assert_array_equal(Relabel(background=-1)(np.array([[5, -1, 5, 0, 0]])), [[1, 0, 2, 3, 3]])


def test_dictionary_version():
    out = Relabeld(keys="label", run_cc=False)({"label": np.array([[7, 0, 3]])})["label"]
    np.testing.assert_array_equal(out, [[2, 0, 1]])


def test_bad_input():
    with pytest.raises(ValueError, match="connectivity"):
        Relabel(connectivity=0)
    with pytest.raises(ValueError, match="Relabel expects"):
        Relabel()(np.zeros((2, 3, 3, 3)))
