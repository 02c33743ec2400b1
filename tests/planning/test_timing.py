"""The step-time target of the plan and the timing of one training step (with an injected clock)."""

import pytest
import torch

from unet3d_monai.networks import UNet3D
from unet3d_monai.planning import StepTimeLimit, parse_step_seconds, training_step_seconds

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


def test_check_times_each_size_once_and_accepts_small_steps_untimed():
    calls = []

    def timer(patch, batch):
        calls.append((patch, batch))
        return {(32, 96, 96): 3.0, (48, 128, 128): 8.0, (40, 96, 96): 3.5}[patch] * batch

    limit = StepTimeLimit.create("auto", "cpu", 3, timer)
    small = "time: 294912 voxels per step, no more than the fixed default's 294912"
    assert limit.check([16, 96, 96], 2) == (True, small)
    assert calls == []
    assert limit.check([48, 128, 128], 1) == (False, "time: step 8.0 s > 3.0 s target, a 32x96x96 step")
    assert limit.check([48, 128, 128], 1)[0] is False
    assert calls == [((48, 128, 128), 1), ((32, 96, 96), 1)]
    assert limit.to_dict()["measured_seconds"] == [
        {"patch": [48, 128, 128], "batch": 1, "seconds": 8.0},
        {"patch": [32, 96, 96], "batch": 1, "seconds": 3.0},
    ]
    given = StepTimeLimit.create(4, "cpu", 3, timer)
    # a target given times every step, also small ones
    assert given.check([40, 96, 96], 1) == (True, "time: step 3.5 s <= 4.0 s target (--step_seconds)")


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
