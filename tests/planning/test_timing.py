"""The step-time target of the plan and the timing of one training step (with an injected clock)."""

import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from unet3d_monai.networks import ResidualUNet2D, ResidualUNet3D, ResidualUNetSE3D, UNet2D, UNet3D
from unet3d_monai.planning import StepTimeLimit, parse_step_seconds, training_step_flops, training_step_seconds

TINY = {"f_maps": [4, 8, 16], "num_groups": 2}


def test_parse_step_seconds():
    assert parse_step_seconds("auto") == "auto" and parse_step_seconds(None) == "auto"
    assert parse_step_seconds(2) == 2.0 and parse_step_seconds("2.5") == 2.5
    assert parse_step_seconds("none") is None and parse_step_seconds("Off") is None
    for bad in (0, -1, "fast", True, float("inf")):
        with pytest.raises(ValueError, match=r"--step_seconds .* must be a positive number of seconds, 'auto'"):
            parse_step_seconds(bad)


def test_limit_per_device():
    def timer(patch, batch):
        return 1.0

    assert StepTimeLimit.create("none", "cpu", 3, timer) is None
    # on CUDA, only a number given sets a target
    assert StepTimeLimit.create("auto", "cuda", 3, timer) is None
    assert StepTimeLimit.create(4, "cuda", 3, timer).target == 4.0
    cpu = StepTimeLimit.create("auto", "cpu", 3, timer)
    assert (cpu.reference_patch, cpu.reference_batch) == ([32, 96, 96], 1)
    flat = StepTimeLimit.create("auto", "cpu", 2, timer)
    assert (flat.reference_patch, flat.reference_batch) == ([128, 128], 8)
    # the reference patch is raised to the network's smallest input
    assert StepTimeLimit.create("auto", "cpu", 3, timer, lower=[44, 8, 8]).reference_patch == [44, 96, 96]


def test_check_measures_each_size_once():
    calls = []

    def flops(patch, batch):
        calls.append((patch, batch))
        return 1e6 * math.prod(patch) * batch

    limit = StepTimeLimit.create("auto", "cpu", 3, flops)
    assert limit.check([16, 96, 96], 2) == (True, "compute: 294912 voxels, 294.9 GFLOP per step, within the fixed "
                                            "defaults' 32x96x96 step (294912 voxels, 294.9 GFLOP +10%)")  # fmt: skip
    # the bundle's own network: one voxel more is over
    assert limit.check([32, 96, 97], 1)[0] is False
    assert limit.check([48, 128, 128], 1)[0] is False
    assert limit.check([48, 128, 128], 1)[0] is False
    assert calls == [((16, 96, 96), 2), ((32, 96, 96), 1), ((32, 96, 97), 1), ((48, 128, 128), 1)]
    assert limit.to_dict()["counted_flops"][3] == {"patch": [48, 128, 128], "batch": 1, "flops": 786432000000}

    def seconds(patch, batch):
        return {(32, 96, 96): 3.0, (40, 96, 96): 3.5}[patch] * batch

    given = StepTimeLimit.create(4, "cpu", 3, seconds)
    assert given.check([40, 96, 96], 1) == (True, "time: step 3.5 s <= 4.0 s target (--step_seconds)")
    assert given.to_dict()["measured_seconds"] == [{"patch": [40, 96, 96], "batch": 1, "seconds": 3.5}]


def test_reference_network_sets_the_target():
    planned, reference = [], []

    def planned_flops(patch, batch):
        planned.append(patch)
        return 2e6 * math.prod(patch)

    def reference_flops(patch, batch):
        reference.append(patch)
        return 1e6 * math.prod(patch)

    limit = StepTimeLimit.create("auto", "cpu", 3, planned_flops, reference_cost=reference_flops)
    # fewer voxels than the reference step, but twice the work per voxel: up to 1.1 times the reference's work
    assert limit.check([16, 96, 96], 1) == (True, "compute: 147456 voxels, 294.9 GFLOP per step, within the fixed "
                                            "defaults' 32x96x96 step with the bundle's pooling (294912 voxels, 294.9 "
                                            "GFLOP +10%)")  # fmt: skip
    assert limit.check([16, 96, 104], 1)[0] is True and limit.check([16, 96, 112], 1)[0] is False
    assert limit.load([16, 96, 112], 1) == 2 * 16 * 96 * 112 / (1.1 * 32 * 96 * 96)
    assert planned == [(16, 96, 96), (16, 96, 104), (16, 96, 112)] and reference == [(32, 96, 96)]
    assert limit.to_dict()["reference_step"] == {"patch": [32, 96, 96], "batch": 1, "network": "the bundle's"}


class _OneConv(nn.Module):
    in_channels = 1

    def __init__(self, then_pointwise: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 2, 3, padding=1)
        self.pointwise = nn.Conv3d(2, 1, 1) if then_pointwise else nn.Identity()

    def forward(self, x):
        return self.pointwise(self.conv(x))


def test_training_step_flops_by_hand():
    # 3x3x3 convolution 1 -> 2 channels on 4x4x4 voxels: 2 * 64 * 2 * 27 = 6912 forward, as many for the weight's
    # gradient (the input needs none)
    assert training_step_flops(_OneConv(), (4, 4, 4), 1) == 2 * 6912
    # then a 1x1x1 convolution 2 -> 1, batch 3: 3 * (6912 + 256) forward, the same for both weights' gradients, and
    # 3 * 256 for the gradient of the first convolution's output
    assert training_step_flops(_OneConv(True), (4, 4, 4), 3) == 3 * (2 * (6912 + 256) + 256)
    # counted on the meta device, as on a real run; the network itself is left as it was
    network = UNet3D(1, 1, **TINY)
    with FlopCounterMode(display=False) as counter:
        network(torch.randn(1, 1, 8, 16, 16)).square().mean().backward()
    assert training_step_flops(network, (8, 16, 16), 1) == counter.get_total_flops()
    assert next(network.parameters()).device.type == "cpu"
    # the same work per voxel at twice the depth
    assert training_step_flops(network, (16, 16, 16), 1) == 2 * training_step_flops(network, (8, 16, 16), 1)


def test_training_step_seconds_times_one_step_after_the_warmup():
    network = UNet3D(1, 1, **TINY)
    shapes = []
    network.register_forward_hook(lambda module, args, out: shapes.append(tuple(args[0].shape)))
    ticks = iter([10.0, 12.5])
    seconds = training_step_seconds(network, (8, 16, 16), 2, "cpu", warmup_steps=1, clock=lambda: next(ticks))
    assert seconds == 2.5
    assert shapes == [(2, 1, 8, 16, 16)] * 2  # one warm-up step, one timed
    assert all(p.grad is None for p in network.parameters())
    ticks = iter([0.0, 1.0])
    training_step_seconds(network, (8, 16, 16), 1, torch.device("cpu"), warmup_steps=0, clock=lambda: next(ticks))
    assert len(shapes) == 3
    # repeats: the fastest of the timed steps
    ticks = iter([0.0, 3.0, 5.0, 6.5, 7.0, 9.0])
    fastest = training_step_seconds(
        network, (8, 16, 16), 1, "cpu", warmup_steps=0, clock=lambda: next(ticks), repeats=3
    )
    assert fastest == 1.5 and len(shapes) == 6


@pytest.mark.parametrize(
    "network, patch",
    [
        (ResidualUNet3D(1, 2, f_maps=[4, 8], num_groups=2), (8, 16, 16)),
        (ResidualUNetSE3D(1, 2, f_maps=[4, 8], num_groups=2), (8, 16, 16)),
        (UNet2D(1, 2, f_maps=[4, 8], num_groups=2), (32, 32)),
        (ResidualUNet2D(1, 2, f_maps=[4, 8], num_groups=2), (32, 32)),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, nn.Module) else None,
)
def test_training_step_flops_of_every_network_match_a_real_step(network, patch):
    with FlopCounterMode(display=False) as counter:
        network(torch.randn(2, 1, *patch)).square().mean().backward()
    assert training_step_flops(network, patch, 2) == counter.get_total_flops() > 0
