import pytest
import torch

from unet3d_monai.inference import AutocastInferer
from unet3d_monai.losses import BCEDiceLoss
from unet3d_monai.networks import UNet3D


def test_bfloat16_forward_and_backward_close_to_float32():
    torch.manual_seed(0)
    network = UNet3D(1, 1, f_maps=8, num_levels=2)
    x, target = torch.randn(1, 1, 8, 16, 16), (torch.rand(1, 1, 8, 16, 16) > 0.5).float()
    exact = AutocastInferer(enabled=False)(x, network)
    mixed = AutocastInferer("cpu", "bfloat16")(x, network)
    assert exact.dtype == torch.float32 and mixed.dtype == torch.bfloat16
    torch.testing.assert_close(mixed.float(), exact, rtol=0.05, atol=0.05)
    loss = BCEDiceLoss()(mixed, target)
    assert loss.dtype == torch.float32
    loss.backward()
    grads = [p.grad for p in network.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_bad_options():
    with pytest.raises(ValueError, match="dtype must be one of"):
        AutocastInferer(dtype="float8")
    with pytest.raises(ValueError, match="device_type must be 'cpu' or 'cuda'"):
        AutocastInferer(device_type="tpu")


class _Recorder(torch.nn.Module):
    """A 3D convolution that records the dtype its output is computed in."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 1, 3, padding=1)
        self.dtypes = []

    def forward(self, x):
        y = self.conv(x)
        self.dtypes.append(y.dtype)
        return y


@pytest.mark.parametrize(
    "options, bfloat16",
    [
        ({}, False),
        ({"cpu_bf16": True}, True),
        ({"cpu_bf16": "true", "amp": False}, False),  # amp forces it either way
        ({"amp": True}, True),
        ({"cpu_bf16": "auto"}, "native"),
    ],
)
def test_window_predictor_runs_cpu_windows_in_bfloat16_as_cpu_bf16_says(options, bfloat16, monkeypatch):
    from unet3d_monai.inference import WindowPredictor
    from unet3d_monai.runtime import cpu_bfloat16

    monkeypatch.setattr(cpu_bfloat16, "native_cpu_bfloat16", lambda: bfloat16 == "native")
    recorder = _Recorder()
    predictor = WindowPredictor(recorder, **options)
    out = predictor(torch.rand(2, 1, 4, 6, 6))
    expected = bfloat16 in (True, "native")
    assert predictor.autocast_on("cpu") is expected
    assert recorder.dtypes == [torch.bfloat16 if expected else torch.float32]
    assert out.dtype == torch.float32 and out.shape == (2, 1, 4, 6, 6)
    # CUDA windows keep the CUDA default: autocast unless amp says otherwise
    assert predictor.autocast_on("cuda") is options.get("amp", True)
