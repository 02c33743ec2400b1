import numpy as np
import pytest
import torch
from scipy import ndimage

from unet3d_monai.inference import Segmenter
from unet3d_monai.metrics import (
    DSB2018_IOU_THRESHOLDS,
    AveragePrecision,
    BlobsAveragePrecision,
    BoundaryAveragePrecision,
    average_precision,
)


def line(*values: float) -> torch.Tensor:
    """A (1, 1, 1, N) tensor: one item, one channel, a 1 x N image."""
    return torch.tensor(values).view(1, 1, 1, len(values))


def brute_force_ap(true: np.ndarray, test: np.ndarray, thresholds=DSB2018_IOU_THRESHOLDS) -> float:
    """Independent DSB2018 score: masks per instance, greedy one-to-one matching, loops everywhere."""
    true_ids = [i for i in np.unique(true) if i != 0]
    test_ids = [j for j in np.unique(test) if j != 0]
    if not true_ids and not test_ids:
        return 1.0
    iou = np.zeros((len(true_ids), len(test_ids)))
    for a, i in enumerate(true_ids):
        for b, j in enumerate(test_ids):
            inter = np.sum((true == i) & (test == j))
            union = np.sum((true == i) | (test == j))
            iou[a, b] = inter / union
    scores = []
    for t in thresholds:
        used_true, used_test, tp = set(), set(), 0
        for a, b in sorted(zip(*np.nonzero(iou > t)), key=lambda ab: -iou[ab]):
            if a not in used_true and b not in used_test:
                used_true.add(a)
                used_test.add(b)
                tp += 1
        fp, fn = len(test_ids) - tp, len(true_ids) - tp
        scores.append(tp / (tp + fp + fn) if tp > 0 else 0.0)
    return float(np.mean(scores))


def test_thresholds_are_dsb2018():
    assert DSB2018_IOU_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_hand_computed_cases():
    truth = np.array([1, 1, 0, 2, 2])
    assert average_precision(truth, np.array([5, 5, 0, 9, 9])) == pytest.approx(1.0)  # perfect, other labels
    assert average_precision(truth, np.array([1, 1, 0, 0, 0])) == pytest.approx(0.5)  # one missed: 1 / (1 + 1)
    assert average_precision(np.array([1, 1, 0, 0]), np.array([1, 1, 0, 2])) == pytest.approx(0.5)  # a false positive
    # a merge of a 3-voxel and a 1-voxel instance: IoU 3/4 with the large one, so TP = 1, FN = 1 at thresholds
    # 0.5 .. 0.7 (five of them, score 1/2) and TP = 0 above: mean 0.25
    assert average_precision(np.array([1, 1, 1, 2]), np.array([4, 4, 4, 4])) == pytest.approx(0.25)
    # IoU exactly 0.5 is not a match (strictly greater)
    assert average_precision(np.array([1, 1, 0, 0]), np.array([1, 1, 1, 1])) == pytest.approx(0.0)
    # a split in halves: no part reaches IoU > 0.5; TP = 0
    assert average_precision(np.array([1, 1, 1, 1]), np.array([1, 1, 2, 2])) == pytest.approx(0.0)


def test_empty_images():
    assert average_precision(np.zeros(4, dtype=int), np.zeros(4, dtype=int)) == 1.0
    assert average_precision(np.zeros(4, dtype=int), np.array([0, 1, 1, 0])) == 0.0
    assert average_precision(np.array([0, 1, 1, 0]), np.zeros(4, dtype=int)) == 0.0


def test_min_instance_size_drops_small_instances():
    truth = np.array([1, 1, 1, 0, 0, 0])
    test = np.array([1, 1, 1, 0, 2, 0])
    assert average_precision(truth, test) == pytest.approx(0.5)
    assert average_precision(truth, test, min_instance_size=2) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_brute_force_on_random_instances(seed):
    rng = np.random.RandomState(seed)
    shape = (10, 12, 12)
    markers = np.zeros(shape, dtype=np.int64)
    points = rng.randint(0, 10, size=(12, 3))
    markers[tuple(points.T)] = np.arange(1, 13)
    truth = markers[tuple(ndimage.distance_transform_edt(markers == 0, return_indices=True)[1])]
    truth[rng.uniform(size=shape) < 0.1] = 0
    moved = np.zeros(shape, dtype=np.int64)
    jittered = np.clip(points + rng.randint(-2, 3, size=points.shape), 0, 9)
    moved[tuple(jittered.T)] = np.arange(1, 13) * 7
    test = moved[tuple(ndimage.distance_transform_edt(moved == 0, return_indices=True)[1])]
    test[truth == 0] = 0
    expected = brute_force_ap(truth, test)
    assert 0.0 < expected < 1.0
    assert average_precision(truth, test) == pytest.approx(expected, abs=1e-12)
    value = AveragePrecision()(y_pred=torch.from_numpy(test)[None, None], y=torch.from_numpy(truth)[None, None])
    assert value.item() == pytest.approx(expected, abs=1e-12)


def test_metric_batch_channels_and_aggregate():
    truth = line(1, 1, 0, 2, 2)
    missed = line(1, 1, 0, 0, 0)
    metric = AveragePrecision()
    values = metric(y_pred=torch.cat([missed, truth]), y=torch.cat([truth, truth]))
    assert values[:, 0].tolist() == pytest.approx([0.5, 1.0])
    # several channels: the best is kept
    assert metric(y_pred=torch.cat([missed, truth], dim=1), y=truth).item() == pytest.approx(1.0)
    assert metric.aggregate().item() == pytest.approx(2.5 / 3)
    assert AveragePrecision.higher_is_better is True


def test_metric_validation():
    with pytest.raises(ValueError, match="iou_thresholds"):
        AveragePrecision(iou_thresholds=(0.3, 0.5))
    with pytest.raises(ValueError, match="min_instance_size"):
        AveragePrecision(min_instance_size=0)
    with pytest.raises(ValueError, match="integer instance labels"):
        AveragePrecision()(y_pred=line(0.2, 0.7), y=line(1, 1))
    with pytest.raises(ValueError, match="input_channel"):
        BlobsAveragePrecision(input_channel=2)(y_pred=line(0.2, 0.7), y=line(1, 1))


def test_blobs_best_threshold_and_channel():
    # two blobs joined by a bridge of 0.55: merged at 0.4 and 0.5, separate from 0.6 on
    blobs = line(0.9, 0.9, 0.55, 0.9, 0.9)
    truth = line(1, 1, 0, 2, 2)
    assert BlobsAveragePrecision(thresholds=(0.5,))(y_pred=blobs, y=truth).item() == pytest.approx(0.0)
    assert BlobsAveragePrecision(thresholds=(0.6,))(y_pred=blobs, y=truth).item() == pytest.approx(1.0)
    assert BlobsAveragePrecision()(y_pred=blobs, y=truth).item() == pytest.approx(1.0)
    # the map in channel 1, instances in the last label channel
    two_channels = torch.cat([torch.zeros_like(blobs), blobs], dim=1)
    labels = torch.cat([torch.zeros_like(truth), truth], dim=1)
    assert BlobsAveragePrecision(input_channel=1)(y_pred=two_channels, y=labels).item() == pytest.approx(1.0)
    assert BlobsAveragePrecision(input_channel=0)(y_pred=two_channels, y=labels).item() == pytest.approx(0.0)
    assert BlobsAveragePrecision().thresholds == (0.4, 0.5, 0.6, 0.7, 0.8)


def test_boundary_best_threshold():
    boundary = line(0.1, 0.1, 0.45, 0.1, 0.1, 0.9, 0.1, 0.1)
    truth = line(1, 1, 0, 2, 2, 0, 3, 3)
    # at 0.5 instances 1 and 2 merge into a 5-voxel segment (IoU 2/5 each): 1 TP, 1 FP, 2 FN -> 1/4
    assert BoundaryAveragePrecision(thresholds=(0.5,))(y_pred=boundary, y=truth).item() == pytest.approx(0.25)
    assert BoundaryAveragePrecision(thresholds=(0.5, 0.4))(y_pred=boundary, y=truth).item() == pytest.approx(1.0)
    assert BoundaryAveragePrecision.higher_is_better is True
    assert BoundaryAveragePrecision().thresholds == (0.3, 0.4, 0.5, 0.6)


def test_blobs_scored_through_the_prediction_segmenter():
    # two discs of radius 8 joined by a narrow neck: one component, which matches the left disc at IoU 0.5 and
    # leaves the right one unmatched, AP = 1 / (1 + 0 + 1); the distance watershed that prediction uses splits them
    yy, xx = np.mgrid[:24, :44]
    left = (yy - 12) ** 2 + (xx - 12) ** 2 <= 64
    right = (yy - 12) ** 2 + (xx - 27) ** 2 <= 64
    truth = np.zeros((24, 44), np.int64)
    truth[left] = 1
    truth[right & ~left] = 2
    blobs = torch.as_tensor((left | right).astype(np.float32)).view(1, 1, 24, 44)
    labels = torch.as_tensor(truth).view(1, 1, 24, 44)
    assert BlobsAveragePrecision(iou_thresholds=(0.5,))(y_pred=blobs, y=labels).item() == pytest.approx(0.5)
    segmenter = Segmenter(mode="foreground_watershed", threshold=0.5, min_distance=5)
    split = BlobsAveragePrecision(iou_thresholds=(0.5,), segmenter=segmenter)(y_pred=blobs, y=labels).item()
    assert split == pytest.approx(1.0)
    with pytest.raises(TypeError, match="segmenter must be callable"):
        BlobsAveragePrecision(segmenter="foreground_watershed")


def test_boundary_scored_through_a_segmenter():
    # thresholded at 0.5 instances 1 and 2 merge (AP 1/4, see above); a segmenter that cuts at the faint boundary
    # too separates all three
    boundary = line(0.1, 0.1, 0.45, 0.1, 0.1, 0.9, 0.1, 0.1)
    truth = line(1, 1, 0, 2, 2, 0, 3, 3)
    calls = []

    def cut_at_0_4(probabilities):
        calls.append(probabilities.shape)
        return ndimage.label(probabilities[0] < 0.4)[0]

    metric = BoundaryAveragePrecision(thresholds=(0.5,), segmenter=cut_at_0_4)
    assert metric(y_pred=boundary, y=truth).item() == pytest.approx(1.0)
    assert calls == [(1, 1, 8)]
