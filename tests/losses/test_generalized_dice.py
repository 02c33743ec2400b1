import numpy as np
import pytest
import torch

from unet3d_monai.losses import GeneralizedDiceLoss


def test_single_channel_expanded_to_foreground_and_background():
    p = torch.tensor([[[0.2, 0.8, 0.6, 0.4]]], dtype=torch.float64)
    t = torch.tensor([[[0.0, 1.0, 1.0, 1.0]]], dtype=torch.float64)
    # foreground: w = 1/3^2, intersection 1.8, sum(p) + sum(t) = 5
    # background: p' = [0.8, 0.2, 0.4, 0.6], t' = [1, 0, 0, 0]: w = 1, intersection 0.8, sum 2 + 1 = 3
    expected = 1 - 2 * (1.8 / 9 + 0.8) / (5 / 9 + 3)  # 0.4375
    assert GeneralizedDiceLoss(normalization="none")(p, t).item() == pytest.approx(expected, abs=1e-5)
    assert expected == pytest.approx(0.4375)
    logits = torch.log(p / (1 - p))
    assert GeneralizedDiceLoss()(logits, t).item() == pytest.approx(expected, abs=1e-5)


def test_multi_class_with_an_absent_class():
    # voxel probabilities [0.7, 0.2, 0.1] and [0.1, 0.6, 0.3]; classes 0 and 1; class 2 absent
    p = torch.tensor([[[0.7, 0.1], [0.2, 0.6], [0.1, 0.3]]], dtype=torch.float64)
    t = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]], dtype=torch.float64)
    # weights 1/1, 1/1 and, for the absent class, the largest present weight 1
    expected = 1 - 2 * (0.7 + 0.6) / ((0.8 + 1) + (0.8 + 1) + (0.4 + 0))  # 0.35
    assert GeneralizedDiceLoss(normalization="none")(p, t).item() == pytest.approx(expected, abs=1e-5)


def test_softmax_matches_numpy():
    generator = torch.Generator().manual_seed(7)
    logits = torch.randn(2, 3, 4, 5, generator=generator, dtype=torch.float64)
    classes = torch.randint(0, 3, (2, 4, 5), generator=generator)
    target = torch.nn.functional.one_hot(classes, 3).movedim(-1, 1).double()
    p = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(axis=1, keepdims=True)
    t = target.numpy()
    w = 1 / t.sum(axis=(0, 2, 3)) ** 2
    numerator = 2 * np.sum(w * np.sum(p * t, axis=(0, 2, 3)))
    denominator = np.sum(w * (p.sum(axis=(0, 2, 3)) + t.sum(axis=(0, 2, 3))))
    loss = GeneralizedDiceLoss(normalization="softmax")(logits, target)
    assert loss.item() == pytest.approx(1 - numerator / denominator, abs=1e-5)


def test_ignore_index_is_exact_and_skip_last_target():
    generator = torch.Generator().manual_seed(8)
    logits = torch.randn(2, 1, 6, 6, generator=generator, dtype=torch.float64)
    target = (torch.rand(2, 1, 6, 6, generator=generator) > 0.6).double()
    kept = torch.rand(2, 1, 6, 6, generator=generator) > 0.4
    ignored = torch.where(kept, target, torch.full_like(target, 7.0))
    instances = torch.randint(0, 5, (2, 1, 6, 6), generator=generator).double()
    loss = GeneralizedDiceLoss(ignore_index=7, skip_last_target=True)(logits, torch.cat([ignored, instances], 1))
    expected = GeneralizedDiceLoss()(logits[kept].view(1, 1, -1), target[kept].view(1, 1, -1))
    assert loss.item() == pytest.approx(expected.item(), abs=1e-10)
    assert loss.item() != pytest.approx(GeneralizedDiceLoss()(logits, target).item(), abs=1e-4)


def test_shape_mismatch():
    with pytest.raises(ValueError, match=r"GeneralizedDiceLoss expects a target with one channel per output channel"):
        GeneralizedDiceLoss()(torch.zeros(1, 2, 4), torch.zeros(1, 1, 4))


def test_gradcheck():
    generator = torch.Generator().manual_seed(9)
    logits = torch.randn(2, 1, 3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    target = (torch.rand(2, 1, 3, 4, generator=generator) > 0.5).double()
    loss = GeneralizedDiceLoss()
    assert torch.autograd.gradcheck(lambda x: loss(x, target), (logits,))
    logits3 = torch.randn(1, 3, 3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    target3 = torch.nn.functional.one_hot(torch.randint(0, 3, (1, 3, 4), generator=generator), 3).movedim(-1, 1)
    softmax = GeneralizedDiceLoss(normalization="softmax")
    assert torch.autograd.gradcheck(lambda x: softmax(x, target3.double()), (logits3,))
