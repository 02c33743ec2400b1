import math

import numpy as np
import pytest
import torch
from skimage.metrics import adapted_rand_error as skimage_are

from unet3d_monai.metrics import AdaptedRandError, BoundaryAdaptedRandError, adapted_rand_error


def as_batch(*items: np.ndarray) -> torch.Tensor:
    """Stack (spatial) arrays into a (B, 1, *spatial) tensor."""
    return torch.from_numpy(np.stack(items))[:, None]


def test_hand_computed_merge_and_split():
    truth = np.array([1, 1, 2, 2])
    # merge: pairs in truth 2+2=4 ordered pairs, in test 12, shared 4 -> 1 - 4 / (0.5 * 4 + 0.5 * 12) = 0.5
    assert adapted_rand_error(truth, np.array([1, 1, 1, 1])) == pytest.approx(0.5)
    # split of one instance: truth pairs 4, test pairs 2, shared 2 -> 1 - 2 / 3
    assert adapted_rand_error(truth, np.array([1, 1, 2, 3])) == pytest.approx(1 / 3)
    # perfect, with different label values
    assert adapted_rand_error(truth, np.array([8, 8, 0, 0])) == pytest.approx(0.0)


def test_hand_computed_zero_ignored_in_truth_only():
    truth = np.array([0, 0, 1, 1])
    # truth zeros are ignored: only voxels 2, 3 count and they share a label in both -> perfect
    assert adapted_rand_error(truth, np.array([5, 6, 3, 3])) == pytest.approx(0.0)
    # test zeros are an ordinary segment: truth [1,1,2,2] vs test [0,0,0,0] is a merge
    assert adapted_rand_error(np.array([1, 1, 2, 2]), np.zeros(4, dtype=int)) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "shape, n_true, n_test, with_zeros",
    [
        ((8, 9, 10), 5, 7, True),
        ((8, 9, 10), 5, 7, False),
        ((4, 16, 16), 40, 3, True),
        ((4, 16, 16), 2, 60, False),
        ((20, 20), 12, 12, True),
        ((6, 6, 6), 200, 150, True),
    ],
)
def test_equals_skimage_on_random_volumes(shape, n_true, n_test, with_zeros):
    rng = np.random.RandomState(n_true * 31 + n_test)
    truth = rng.randint(0 if with_zeros else 1, n_true + 1, size=shape)
    # a prediction correlated with the truth: mostly a relabelling, with noise
    test = (truth * 3 + 1) % (n_test + 1)
    noisy = rng.uniform(size=shape) < 0.2
    test[noisy] = rng.randint(0, n_test + 1, size=int(noisy.sum()))
    expected = skimage_are(truth, test)[0]
    assert adapted_rand_error(truth, test) == pytest.approx(expected, abs=1e-6)
    metric = AdaptedRandError()
    value = metric(y_pred=as_batch(test), y=as_batch(truth))
    assert value.shape == (1, 1)
    assert value.item() == pytest.approx(expected, abs=1e-6)


def test_large_label_values_equal_skimage():
    rng = np.random.RandomState(3)
    truth = rng.randint(0, 5, size=(10, 10, 10)) * 500_009  # spans over 2**20: the sort path
    test = rng.randint(0, 6, size=(10, 10, 10)) * 300_007
    expected = skimage_are(truth, test)[0]
    assert adapted_rand_error(truth, test) == pytest.approx(expected, abs=1e-6)


def test_ignore_index_equals_skimage_ignore_labels():
    rng = np.random.RandomState(5)
    truth = rng.randint(0, 6, size=(5, 8, 8))
    test = rng.randint(0, 4, size=(5, 8, 8))
    expected = skimage_are(truth, test, ignore_labels=(0, 3))[0]
    value = AdaptedRandError(ignore_index=3)(y_pred=as_batch(test), y=as_batch(truth))
    assert value.item() == pytest.approx(expected, abs=1e-6)
    assert value.item() != pytest.approx(skimage_are(truth, test)[0], abs=1e-4)


def test_batch_items_channels_and_aggregate():
    truth = np.array([[1, 1, 2, 2]])
    merged = np.ones((1, 4), dtype=np.int64)
    perfect = truth.copy()
    metric = AdaptedRandError()
    values = metric(y_pred=as_batch(merged, perfect), y=as_batch(truth, truth))
    assert values[:, 0].tolist() == pytest.approx([0.5, 0.0])
    # several channels are candidates: the lowest error is kept
    two_channels = torch.from_numpy(np.stack([merged, perfect]))[None]
    assert metric(y_pred=two_channels, y=as_batch(truth)).item() == pytest.approx(0.0)
    assert metric.aggregate().item() == pytest.approx(0.5 / 3)
    assert AdaptedRandError.higher_is_better is False


def test_use_last_target_and_float_labels():
    truth = np.array([[1.0, 1.0, 2.0, 2.0]])
    boundary_channel = np.array([[0.0, 1.0, 1.0, 0.0]])
    y = torch.from_numpy(np.stack([boundary_channel, truth]))[None].float()
    y_pred = torch.tensor([[[[1.0, 1.0, 1.0, 1.0]]]])
    assert AdaptedRandError(use_last_target=True)(y_pred=y_pred, y=y).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="use_last_target"):
        AdaptedRandError()(y_pred=y_pred, y=y)


def test_undefined_item_is_nan_and_skipped():
    metric = AdaptedRandError()
    empty = metric(y_pred=as_batch(np.array([[1, 2, 3]])), y=as_batch(np.zeros((1, 3), dtype=np.int64)))
    assert math.isnan(empty.item())
    metric(y_pred=as_batch(np.array([[1, 1, 1, 1]])), y=as_batch(np.array([[1, 1, 2, 2]])))
    assert metric.aggregate().item() == pytest.approx(0.5)


def test_bad_inputs():
    metric = AdaptedRandError()
    with pytest.raises(ValueError, match="integer instance labels"):
        metric(y_pred=torch.rand(1, 1, 4, 4), y=torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match="spatial shape"):
        metric(y_pred=torch.ones(1, 1, 4, 4), y=torch.ones(1, 1, 4, 5))
    with pytest.raises(ValueError, match="same rank"):
        metric(y_pred=torch.ones(1, 1, 4, 4), y=torch.ones(1, 4, 4, 1, 1))


def test_boundary_picks_best_threshold():
    # two instances separated by a weak boundary (0.45) and a strong one (0.9)
    boundary = torch.tensor([0.1, 0.1, 0.45, 0.1, 0.1, 0.9, 0.1, 0.1]).view(1, 1, 1, 8)
    instances = torch.tensor([1, 1, 0, 2, 2, 0, 3, 3]).view(1, 1, 1, 8)
    # at 0.5 the weak boundary is interior and instances 1 and 2 merge; over the 6 labelled voxels the shared pairs
    # are 12 - 6, the true pairs 12 - 6 and the predicted pairs (16 + 4) - 6: error 1 - 6 / (0.5 * 6 + 0.5 * 14)
    merged = BoundaryAdaptedRandError(thresholds=(0.5,))(y_pred=boundary, y=instances)
    assert merged.item() == pytest.approx(0.4)
    # at 0.4 all three are separated
    assert BoundaryAdaptedRandError(thresholds=(0.4,))(y_pred=boundary, y=instances).item() == pytest.approx(0.0)
    assert BoundaryAdaptedRandError(thresholds=(0.5, 0.4))(y_pred=boundary, y=instances).item() == pytest.approx(0.0)


def test_boundary_connectivity_is_face_only_and_channels():
    # 2D map: the interior block and the corner pixel touch only diagonally, so they are two segments
    boundary = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    instances = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 2]]).view(1, 1, 3, 3)
    assert BoundaryAdaptedRandError(thresholds=(0.5,))(y_pred=boundary, y=instances).item() == pytest.approx(0.0)
    # a map without boundary gives one segment: shared pairs 17 - 5, true 17 - 5, predicted 25 - 5 -> 0.25
    empty = torch.zeros(1, 1, 3, 3)
    both = torch.cat([empty, boundary], dim=1)
    first_only = BoundaryAdaptedRandError(thresholds=(0.5,))(y_pred=both, y=instances).item()
    all_channels = BoundaryAdaptedRandError(thresholds=(0.5,), use_first_input=False)(y_pred=both, y=instances).item()
    assert first_only == pytest.approx(0.25)
    assert all_channels == pytest.approx(0.0)


def test_boundary_default_thresholds_and_validation():
    metric = BoundaryAdaptedRandError()
    assert metric.thresholds == (0.3, 0.4, 0.5, 0.6)
    assert metric.use_last_target is True
    assert BoundaryAdaptedRandError.higher_is_better is False
    with pytest.raises(ValueError, match="thresholds"):
        BoundaryAdaptedRandError(thresholds=(1.5,))


def test_half_precision_and_meta_tensor_inputs():
    from monai.data import MetaTensor

    truth = MetaTensor(torch.tensor([1.0, 1.0, 2.0, 2.0]).view(1, 1, 1, 4))
    merged = torch.ones(1, 1, 1, 4, dtype=torch.bfloat16)
    assert AdaptedRandError()(y_pred=merged, y=truth.half()).item() == pytest.approx(0.5)
    boundary = MetaTensor(torch.tensor([0.1, 0.9, 0.1, 0.1]).view(1, 1, 1, 4))
    split = BoundaryAdaptedRandError(thresholds=(0.5,))(y_pred=boundary.to(torch.bfloat16), y=truth)
    # interior segments {0} and {2, 3}, boundary {1} with label 0: truth 1 is split in two -> 1 - 2 / (2 + 1)
    assert split.item() == pytest.approx(1 / 3)


def test_grow_segments_assigns_boundary_to_nearest_component():
    from unet3d_monai.metrics.instance import grow_segments

    labels = np.array([[1, 1, 0, 0, 0, 2], [1, 0, 0, 0, 2, 2]])
    np.testing.assert_array_equal(grow_segments(labels), [[1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2]])
    np.testing.assert_array_equal(grow_segments(np.zeros((2, 3), int)), np.zeros((2, 3), int))


def test_boundary_arand_with_grown_segments_scores_the_cells():
    """Two cells separated by a two-voxel boundary band: ungrown, the band is a third segment spanning both
    cells; grown, the segmentation equals the ground truth."""
    truth = np.array([1, 1, 1, 1, 2, 2, 2, 2])[None].repeat(4, 0)
    prob = np.array([0.1, 0.1, 0.1, 0.9, 0.9, 0.1, 0.1, 0.1], np.float32)[None].repeat(4, 0)
    y = torch.as_tensor(truth)[None, None]
    y_pred = torch.as_tensor(prob)[None, None]
    plain = BoundaryAdaptedRandError(thresholds=(0.5,))(y_pred=y_pred, y=y)
    grown = BoundaryAdaptedRandError(thresholds=(0.5,), grow_segments=True)(y_pred=y_pred, y=y)
    seg = np.array([1, 1, 1, 0, 0, 2, 2, 2])[None].repeat(4, 0)
    expected_plain = skimage_are(truth, seg)[0]
    assert float(plain) == pytest.approx(expected_plain, abs=1e-6) and expected_plain > 0.2
    # grown: voxel 3 joins cell 1 and voxel 4 joins cell 2 (their nearest components): equal to the ground truth
    assert float(grown) == pytest.approx(0.0, abs=1e-9)


def test_boundary_metric_scores_the_given_segmenter_as_scikit_image_does():
    from skimage.metrics import adapted_rand_error

    from unet3d_monai.inference import Segmenter

    rng = np.random.default_rng(3)
    truth = np.ones((6, 20, 24), dtype=np.int64)
    truth[:, :, 12:] = 2
    truth[:, 10:, :] += 2
    boundary = (rng.random(truth.shape) * 0.3).astype(np.float32)
    boundary[:, :, 11:13] = 0.9
    boundary[:, 9:11, :] = 0.9
    segmenter = Segmenter("boundary_distance_watershed", threshold=0.5, min_distance=3)
    metric = BoundaryAdaptedRandError(segmenter=segmenter)
    value = metric(y_pred=torch.from_numpy(boundary)[None, None], y=torch.from_numpy(truth)[None, None])
    expected = adapted_rand_error(truth, segmenter(boundary[None]).astype(np.int64))[0]
    assert value.item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(TypeError, match="segmenter must be callable"):
        BoundaryAdaptedRandError(segmenter="watershed")
