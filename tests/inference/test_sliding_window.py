import itertools

import numpy as np
import pytest
import torch
from monai.inferers import sliding_window_inference

from tests.inference._networks import CopyNet, TinyNet
from unet3d_monai.inference import predict
from unet3d_monai.inference.window_predictor import WindowPredictor


def _volume(shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


def test_roi_covering_the_volume_equals_a_direct_forward_pass():
    net = TinyNet(out_channels=2)
    volume = _volume((1, 9, 14, 11))
    out = predict(net, volume, roi_size=(9, 14, 11), device="cpu")
    with torch.no_grad():
        expected = torch.sigmoid(net(torch.from_numpy(volume)[None]))[0].numpy()
    assert out.shape == (2, 9, 14, 11) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_gaussian_blending_matches_monai_sliding_window_inference():
    net = TinyNet(out_channels=2, activation="softmax")
    volume = _volume((1, 21, 30, 26), seed=1)
    out = predict(net, volume, roi_size=(8, 12, 10), overlap=0.5, sw_batch_size=3, device="cpu")
    with torch.no_grad():
        expected = sliding_window_inference(
            torch.from_numpy(volume)[None], (8, 12, 10), 3, lambda x: torch.softmax(net(x), 1), 0.5, mode="gaussian"
        )[0].numpy()
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_allclose(out.sum(0), 1.0, atol=1e-5)  # blended softmax still sums to one


def test_blending_copies_of_the_input_gives_the_input():
    volume = _volume((17, 23, 19), seed=2)
    out = predict(CopyNet(), volume, roi_size=(6, 8, 7), overlap=0.25, device="cpu")
    assert out.shape == (1, 17, 23, 19)
    np.testing.assert_allclose(out[0], volume, rtol=1e-5, atol=1e-5)


def test_roi_larger_than_the_volume_is_clipped_to_it():
    net = TinyNet()
    volume = _volume((1, 5, 20, 20), seed=3)
    out = predict(net, volume, roi_size=(8, 16, 16), device="cpu")
    with torch.no_grad():
        expected = sliding_window_inference(
            torch.from_numpy(volume)[None], (5, 16, 16), 1, lambda x: torch.sigmoid(net(x)), 0.25, mode="gaussian"
        )[0].numpy()
    assert out.shape == (1, 5, 20, 20)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_2d_network_predicts_slice_by_slice():
    net = TinyNet(spatial_dims=2)
    volume = _volume((1, 3, 20, 24), seed=4)
    out = predict(net, volume, roi_size=(12, 16), overlap=0.5, device="cpu")
    assert out.shape == (1, 3, 20, 24)
    for z in range(3):
        with torch.no_grad():
            expected = sliding_window_inference(
                torch.from_numpy(volume[:, z])[None],
                (12, 16),
                1,
                lambda x: torch.sigmoid(net(x)),
                0.5,
                mode="gaussian",
            )[0].numpy()
        np.testing.assert_allclose(out[:, z], expected, atol=1e-6)
    # a 2D image (C, Y, X) keeps its layout, a (1, Y, X) roi is accepted
    single = predict(net, volume[:, 1], roi_size=(1, 12, 16), overlap=0.5, device="cpu")
    assert single.shape == (1, 20, 24)
    np.testing.assert_allclose(single, out[:, 1], atol=1e-6)


def test_2d_network_refuses_a_deep_roi():
    with pytest.raises(ValueError, match="2D network"):
        predict(TinyNet(spatial_dims=2), _volume((1, 3, 8, 8)), roi_size=(2, 8, 8), device="cpu")


def test_tta_is_the_mean_of_the_eight_flipped_predictions():
    net = TinyNet()
    volume = _volume((1, 6, 8, 10), seed=5)
    out = predict(net, volume, roi_size=(6, 8, 10), tta=True, device="cpu")
    x = torch.from_numpy(volume)[None]
    outputs = []
    with torch.no_grad():
        for k in range(4):
            for axes in itertools.combinations((2, 3, 4), k):
                flipped = torch.flip(x, axes) if axes else x
                y = torch.sigmoid(net(flipped))
                outputs.append(torch.flip(y, axes) if axes else y)
        plain = torch.sigmoid(net(x))[0].numpy()
    assert len(outputs) == 8
    np.testing.assert_allclose(out, torch.stack(outputs).mean(0)[0].numpy(), atol=1e-6)
    assert np.abs(out - plain).max() > 1e-4  # flips change a non-symmetric network's output


def test_tta_2d_uses_four_flips():
    calls = []
    net = TinyNet(spatial_dims=2)
    predictor = WindowPredictor(net, tta=True)
    net.register_forward_hook(lambda module, args, output: calls.append(args[0].shape))
    out = predictor(torch.zeros(2, 1, 1, 8, 8))
    assert len(calls) == 4 and out.shape == (2, 1, 1, 8, 8)


def test_channel_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="2 channels but the network expects 1 input channels"):
        predict(TinyNet(), _volume((2, 8, 8, 8)), roi_size=(8, 8, 8), device="cpu")


def test_amp_is_off_on_cpu_by_default():
    from unet3d_monai.inference.sliding_window import prepare_window_predictor

    predictor, device = prepare_window_predictor(TinyNet(), device="cpu")
    assert device.type == "cpu" and predictor.amp is False and predictor.channels_last is False
    assert predictor.network.training is False
