import math

import numpy as np
import pytest
import torch

from unet3d_monai.metrics import MeanIoU


def line(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, len(values))


def mean_iou(metric: MeanIoU, y_pred: torch.Tensor, y: torch.Tensor) -> float:
    metric(y_pred=y_pred, y=y)
    return metric.aggregate().item()


def three_class_probabilities() -> torch.Tensor:
    """(1, 3, 1, 6) probabilities whose argmax is [0, 0, 1, 1, 2, 2]."""
    argmax = torch.tensor([0, 0, 1, 1, 2, 2])
    probabilities = torch.full((3, 6), 0.1)
    probabilities[argmax, torch.arange(6)] = 0.8
    return probabilities.view(1, 3, 1, 6)


def test_binary_hand_computed():
    probabilities = line(0.9, 0.8, 0.2, 0.1)
    target = line(1, 0, 0, 0)
    assert mean_iou(MeanIoU(), probabilities, target) == pytest.approx(0.5)  # {0,1} vs {0}
    assert mean_iou(MeanIoU(threshold=0.85), probabilities, target) == pytest.approx(1.0)


def test_multiclass_indices_and_one_hot():
    # prediction [0,0,1,1,2,2], truth [0,1,1,1,2,0]: IoU 1/3, 2/3, 1/2 -> mean 1/2
    truth = torch.tensor([0, 1, 1, 1, 2, 0]).view(1, 1, 1, 6)
    metric = MeanIoU(reduction="none")
    per_class = metric(y_pred=three_class_probabilities(), y=truth)
    assert per_class[0].tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    one_hot = torch.nn.functional.one_hot(truth[:, 0], 3).permute(0, 3, 1, 2).float()
    assert mean_iou(MeanIoU(), three_class_probabilities(), one_hot) == pytest.approx(0.5)
    assert mean_iou(MeanIoU(skip_channels=(0,)), three_class_probabilities(), truth) == pytest.approx(7 / 12)


def test_ignore_index_leaves_voxels_out():
    truth = torch.tensor([0, 1, 1, 1, 2, -1]).view(1, 1, 1, 6)
    # voxel 5 ignored: IoU 1/2, 2/3, 1 -> 13/18
    assert mean_iou(MeanIoU(ignore_index=-1), three_class_probabilities(), truth) == pytest.approx(13 / 18)
    assert mean_iou(MeanIoU(ignore_index=255), line(0.9, 0.9, 0.1), line(1, 255, 0)) == pytest.approx(1.0)


def test_absent_classes_are_left_out_of_the_mean():
    probabilities = torch.zeros(1, 3, 2, 2)
    probabilities[:, 0] = 1.0
    truth = torch.zeros(1, 1, 2, 2)
    metric = MeanIoU()
    per_class = metric(y_pred=probabilities, y=truth)
    assert per_class[0, 0].item() == 1.0
    assert math.isnan(per_class[0, 1].item()) and math.isnan(per_class[0, 2].item())
    assert metric.aggregate().item() == pytest.approx(1.0)


def test_matches_numpy_on_random_batches():
    rng = np.random.RandomState(0)
    logits = rng.normal(size=(3, 4, 5, 6, 7)).astype(np.float32)
    probabilities = torch.softmax(torch.from_numpy(logits), dim=1)
    truth = rng.randint(0, 4, size=(3, 1, 5, 6, 7))
    predicted = probabilities.argmax(dim=1).numpy()
    expected = []
    for b in range(3):
        ious = []
        for c in range(4):
            p, t = predicted[b] == c, truth[b, 0] == c
            if (p | t).any():
                ious.append((p & t).sum() / (p | t).sum())
        expected.append(np.mean(ious))
    metric = MeanIoU()
    metric(y_pred=probabilities[:2], y=torch.from_numpy(truth[:2]))
    metric(y_pred=probabilities[2:], y=torch.from_numpy(truth[2:]))
    assert metric.aggregate().item() == pytest.approx(np.mean(expected), abs=1e-6)
    assert MeanIoU.higher_is_better is True


def test_bad_inputs():
    probabilities = three_class_probabilities()
    with pytest.raises(ValueError, match="class indices"):
        MeanIoU()(y_pred=probabilities, y=torch.tensor([0, 1, 3, 1, 2, 0]).view(1, 1, 1, 6))
    with pytest.raises(ValueError, match="1 channel"):
        MeanIoU()(y_pred=probabilities, y=torch.zeros(1, 2, 1, 6))
    with pytest.raises(ValueError, match="out of range"):
        MeanIoU(skip_channels=(3,))(y_pred=probabilities, y=torch.zeros(1, 1, 1, 6))
    with pytest.raises(ValueError, match="no channel"):
        MeanIoU(skip_channels=(0,))(y_pred=line(0.2), y=line(1))
    with pytest.raises(ValueError, match="matching"):
        MeanIoU()(y_pred=probabilities, y=torch.zeros(1, 1, 1, 5))
