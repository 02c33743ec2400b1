import json
import math

import pytest

from tests.planning.conftest import write_volume
from unet3d_monai.networks import UNet3D
from unet3d_monai.networks.unet import pool_kernels_per_level
from unet3d_monai.planning import (
    DatasetFingerprint,
    VolumeFingerprint,
    compute_fingerprint,
    make_plan,
    plan_pooling,
    training_step_bytes,
)
from unet3d_monai.planning import plan as plan_module

TINY = {"f_maps": [4, 8, 16], "num_groups": 2}


@pytest.fixture
def fingerprint(two_volumes):
    return compute_fingerprint(two_volumes)


def test_anisotropic_spacing_gives_anisotropic_pooling():
    # z 8 times coarser: unpooled until the y/x voxels are within 4 times of its
    pools, reason = plan_pooling([8.0, 1.0, 1.0], [64, 256, 256], 3)
    assert pools == [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
    assert reason == (
        "voxel size ratio 8.0 > 4: levels without pooling per axis [1, 0, 0] while an axis' voxels are that much "
        "longer than the finest"
    )
    assert plan_pooling([16.0, 1.0, 1.0], [64, 256, 256], 3)[0] == [[1, 2, 2], [1, 2, 2], [2, 2, 2]]
    # up to 4 times coarser, every axis is pooled (measured no better than pooling 2 on z 8 times coarser stacks)
    assert plan_pooling([4.0, 1.0, 1.0], [64, 256, 256], 3) == (
        [[2, 2, 2]] * 3,
        "voxel size ratio 4.0 <= 4: pool every axis by 2",
    )
    # an axis with 1 voxel left in the smallest volume is not pooled
    pools, reason = plan_pooling([1.0, 1.0, 1.0], [3, 64, 64], 2)
    assert pools == [[2, 2, 2], [1, 2, 2]]
    assert reason == "levels without pooling per axis [1, 0, 0] where the smallest volume has 1 voxel left"
    assert plan_pooling(None, [12, 64, 64], 3)[0] == [[2, 2, 2]] * 3


def test_plan_pools_z_later_on_a_z_coarse_stack(fingerprint):
    plan = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes="1GB")
    assert plan.pool_kernel_size == [[1, 2, 2], [2, 2, 2]]
    network = plan.network(UNet3D(1, 1, **TINY))
    assert network.encoders[1].pooling.kernel_size == (1, 2, 2)
    assert network.encoders[2].pooling.kernel_size == (2, 2, 2)


def test_plan_is_deterministic(fingerprint):
    first = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes="1GB")
    second = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes="1GB")
    assert json.dumps(first.to_dict(), sort_keys=True) == json.dumps(second.to_dict(), sort_keys=True)


def test_patch_never_exceeds_the_smallest_volume(fingerprint):
    plan = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes="1GB", step_seconds="none")
    assert plan.patch_size == [20, 30, 36]
    assert plan.val_roi_size == plan.patch_size
    given = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes="1GB", patch_size=[32, 64, 16])
    assert given.patch_size == [20, 30, 16] and given.entries["patch_size"].source == "set"


def test_memory_fit_shrinks_the_patch_under_a_small_budget(fingerprint):
    ample = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes="1GB", step_seconds="none")
    network = ample.network(UNet3D(1, 1, **TINY))
    full = training_step_bytes(network, (20, 30, 36), 1, "cpu")
    assert ample.memory["measured_bytes"] == full
    small = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes=full // 2, step_seconds="none")
    assert all(s <= a for s, a in zip(small.patch_size, ample.patch_size))
    assert small.patch_size != ample.patch_size
    assert small.memory["measured_bytes"] <= full // 2
    assert training_step_bytes(network, tuple(small.patch_size), 1, "cpu") == small.memory["measured_bytes"]
    assert small.batch_size == 1


def test_training_step_bytes_grow_with_the_patch():
    network = UNet3D(1, 1, **TINY)
    small = training_step_bytes(network, (8, 16, 16), 1, "cpu")
    large = training_step_bytes(network, (16, 32, 32), 1, "cpu")
    # activations grow 8 times with 8 times the voxels; the weights' share stays
    assert 4 * small < large < 9 * small


def test_normalisation_follows_the_intensity_distribution(tmp_path):
    box = (slice(2, 6), slice(3, 9), slice(4, 12))
    write_volume(tmp_path / "plain" / "a.h5", (16, 16, 16), box)
    plain = make_plan(compute_fingerprint(tmp_path / "plain"), UNet3D(1, 1, **TINY), memory_budget_bytes="1GB")
    assert plain.normalization == "standardize"
    # a few hot voxels far above the rest: clipping to the percentile range
    write_volume(tmp_path / "hot" / "a.h5", (16, 16, 16), (slice(0, 1), slice(0, 1), slice(0, 4)), foreground=1e4)
    hot = make_plan(compute_fingerprint(tmp_path / "hot"), UNet3D(1, 1, **TINY), memory_budget_bytes="1GB")
    assert hot.normalization == "percentile"
    assert "outliers" in hot.entries["normalization"].reason


def test_table_has_one_row_per_entry_with_its_reason(fingerprint):
    plan = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes="1GB", batch_size=2)
    lines = plan.table().splitlines()
    assert lines[0].split() == ["entry", "value", "reason"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"voxel_size", "pool_kernel_size", "patch_size", "batch_size", "normalization", "val_roi_size"}
    assert "8x1x1" in rows["voxel_size"] and "1x2x2 2x2x2" in rows["pool_kernel_size"]
    assert rows["batch_size"].split()[1] == "2" and rows["batch_size"].endswith("(set)")


def _fingerprint(shape, count=8):
    """A fingerprint of ``count`` volumes of ``shape`` (no voxel size), without files; with 8 or more volumes the
    plan does not crop a whole-volume patch for random crops."""
    volumes = [VolumeFingerprint(f"v{i}.h5", list(shape), None, "unknown") for i in range(count)]
    intensity = {"min": 0.0, "max": 1.0, "percentile_00_5": 0.0, "percentile_99_5": 1.0, "mean": 0.5, "std": 0.2}
    return DatasetFingerprint(volumes, intensity)


def _voxel_timer(calls):
    """A step-time model: 10 us per voxel of the batch."""

    def timer(network, patch, batch):
        calls.append((tuple(patch), batch))
        return 1e-5 * math.prod(patch) * batch

    return timer


def _voxel_flops(calls, unpooled_cost=1.0):
    """A step-compute model: 1 MFLOP per voxel of the batch (the 32x96x96 reference step: 294.9 GFLOP), times
    ``unpooled_cost`` for a network that leaves an axis unpooled at some level (its deeper feature maps are larger)."""

    def flops(network, patch, batch):
        calls.append((tuple(patch), batch))
        levels = pool_kernels_per_level(network.arguments["pool_kernel_size"], 3, len(network.f_maps) - 1)
        uniform = all(k == 2 for level in levels for k in level)
        return 1e6 * math.prod(patch) * batch * (1.0 if uniform else unpooled_cost)

    return flops


@pytest.fixture
def memory_model(monkeypatch):
    """1 kB per voxel of the batch instead of running the network: the plan is deterministic and quick."""
    monkeypatch.setattr(plan_module, "_measure", lambda network, patch, batch, device: 1000 * math.prod(patch) * batch)


def test_compute_target_shrinks_the_patch_on_cpu(memory_model):
    fingerprint = _fingerprint((40, 100, 100))
    network = UNet3D(1, 1, **TINY)
    by_memory = make_plan(fingerprint, network, memory_budget_bytes="1GB", step_seconds="none")
    assert by_memory.patch_size == [40, 100, 100] and by_memory.timing["target_seconds"] is None
    calls = []
    plan = make_plan(fingerprint, network, memory_budget_bytes="1GB", step_flops=_voxel_flops(calls))
    # 400.0 GFLOP at the whole volume against the 294.9 of the 32x96x96 step: y, x, then z shortened (by the
    # operations per voxel) to 278784 voxels
    assert calls == [((40, 100, 100), 1), ((32, 96, 96), 1), ((36, 88, 88), 1)]
    assert plan.patch_size == [36, 88, 88] and plan.val_roi_size == [36, 88, 88]
    assert plan.entries["patch_size"].reason == (
        "compute: 278784 voxels, 278.8 GFLOP per step, within the fixed defaults' 32x96x96 step (294912 voxels, "
        "294.9 GFLOP +10%); memory allowed 40x100x100 (1000 MB budget)"
    )
    assert plan.batch_size == 1
    assert plan.entries["batch_size"].reason == "the patch already takes the step's compute or time target"
    assert plan.timing["target_flops"] == 294912e6
    assert plan.timing["reference_step"] == {"patch": [32, 96, 96], "batch": 1, "network": "the planned network"}
    assert plan.timing["counted_flops"][0] == {"patch": [40, 100, 100], "batch": 1, "flops": 400000000000}
    # a target of 2 s: each step timed, shortened further
    calls.clear()
    two = make_plan(fingerprint, network, memory_budget_bytes="1GB", step_seconds=2, step_timer=_voxel_timer(calls))
    assert calls == [((40, 100, 100), 1), ((32, 76, 76), 1)]
    assert two.patch_size == [32, 76, 76]
    assert two.entries["patch_size"].reason.startswith("time: step 1.8 s <= 2.0 s target (--step_seconds); ")
    assert "time: step 1.8 s <= 2.0 s target" in two.table()
    assert two.timing["measured_seconds"][0] == {"patch": [40, 100, 100], "batch": 1, "seconds": 4.0}
    # a generous target leaves the memory plan, and says so
    ample = make_plan(fingerprint, network, memory_budget_bytes="1GB", step_seconds=10, step_timer=_voxel_timer([]))
    assert ample.patch_size == [40, 100, 100]
    assert ample.entries["patch_size"].reason.endswith("; time: step 4.0 s <= 10.0 s target (--step_seconds)")
    # the same inputs, the same plan
    again = make_plan(fingerprint, network, memory_budget_bytes="1GB", step_flops=_voxel_flops([]))
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(plan.to_dict(), sort_keys=True)


def test_compute_target_limits_the_batch(memory_model):
    # 100 volumes of 65536 voxels: the data allows 5 patches per batch, the reference step's operations only 4
    calls = []
    plan = make_plan(_fingerprint((16, 64, 64), count=100), UNet3D(1, 1, **TINY), memory_budget_bytes="1GB",
                     step_flops=_voxel_flops(calls))  # fmt: skip
    assert plan.patch_size == [16, 64, 64]
    assert calls == [((16, 64, 64), 1), ((32, 96, 96), 1), ((16, 64, 64), 5), ((16, 64, 64), 4)]
    assert plan.batch_size == 4
    assert plan.entries["batch_size"].reason == (
        "compute: 262144 voxels, 262.1 GFLOP per step, within the fixed defaults' 32x96x96 step (294912 voxels, "
        "294.9 GFLOP +10%)"
    )
    # a given batch is kept, and the patch is planned for it: twice the voxels per step, a smaller patch
    given = make_plan(_fingerprint((40, 100, 100)), UNet3D(1, 1, **TINY), memory_budget_bytes="1GB", batch_size=2,
                      step_flops=_voxel_flops([]))  # fmt: skip
    assert given.batch_size == 2 and math.prod(given.patch_size) * 2 <= 294912


def _anisotropic_fingerprint():
    """Eight 24x128x128 volumes, z 16 times coarser than y/x (the planned pooling leaves z unpooled twice)."""
    volumes = [VolumeFingerprint(f"v{i}.h5", [24, 128, 128], [4.0, 0.25, 0.25], "element_size_um") for i in range(8)]
    intensity = {"min": 0.0, "max": 1.0, "percentile_00_5": 0.0, "percentile_99_5": 1.0, "mean": 0.5, "std": 0.2}
    return DatasetFingerprint(volumes, intensity)


def test_compute_target_holds_other_pooling_to_the_fixed_defaults_work(memory_model):
    # the planned network does 1.5 times the work per voxel of the bundle's (pooling 2): its step may do 1.1 times the
    # work of a 32x96x96 step of the bundle's network
    network = UNet3D(1, 1, f_maps=[4, 8, 16, 32], num_groups=2)
    calls = []
    plan = make_plan(
        _anisotropic_fingerprint(), network, memory_budget_bytes="1GB", step_flops=_voxel_flops(calls, 1.5)
    )
    assert plan.pool_kernel_size == [[1, 2, 2], [1, 2, 2], [2, 2, 2]]
    # the whole volume: 393216 voxels at 1.5 times the work of the reference's 294912
    assert calls[:2] == [((24, 128, 128), 1), ((32, 96, 96), 1)]
    assert plan.timing["target_flops"] == 1e6 * 32 * 96 * 96
    assert plan.timing["reference_step"] == {"patch": [32, 96, 96], "batch": 1, "network": "the bundle's"}
    assert plan.patch_size == [20, 96, 112]
    assert plan.entries["patch_size"].reason == (
        "compute: 215040 voxels, 322.6 GFLOP per step, within the fixed defaults' 32x96x96 step with the bundle's "
        "pooling (294912 voxels, 294.9 GFLOP +10%); memory allowed 24x128x128 (1000 MB budget)"
    )
    # with the bundle's pooling given, the planned network is the bundle's: the whole volume, 393216 voxels, is
    # shortened to no more than 294912
    fixed = make_plan(_anisotropic_fingerprint(), network, memory_budget_bytes="1GB", pool_kernel_size=2,
                      step_flops=_voxel_flops([], 1.5))  # fmt: skip
    assert fixed.timing["reference_step"]["network"] == "the planned network"
    assert 32 * 96 * 96 * 0.8 < math.prod(fixed.patch_size) <= 32 * 96 * 96


def test_compute_target_counts_the_real_networks():
    # counted, not modelled: the planned network (z unpooled at two levels) does more work per voxel than the
    # bundle's, so its whole-volume step (fewer voxels than 32x96x96) is over 1.1 times the target and shortened
    network = UNet3D(1, 1, f_maps=[4, 8, 16, 32], num_groups=2)
    flat = DatasetFingerprint(
        [VolumeFingerprint(f"v{i}.h5", [16, 128, 128], [4.0, 0.25, 0.25], "element_size_um") for i in range(8)],
        {"min": 0.0, "max": 1.0, "percentile_00_5": 0.0, "percentile_99_5": 1.0, "mean": 0.5, "std": 0.2},
    )
    plan = make_plan(flat, network, memory_budget_bytes="1GB")
    counted = plan.timing["counted_flops"]
    target = 1.1 * plan.timing["target_flops"]
    assert counted[0]["patch"] == [16, 128, 128] and counted[0]["flops"] > target
    assert counted[-1]["patch"] == plan.patch_size and counted[-1]["flops"] <= target
    assert math.prod(plan.patch_size) < 16 * 128 * 128 < 32 * 96 * 96
    again = make_plan(flat, network, memory_budget_bytes="1GB")
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(plan.to_dict(), sort_keys=True)


def test_few_volumes_leave_room_for_random_crops(memory_model):
    # two 12x128x128 volumes: the whole volume would show the network the same two crops every time, so y and x,
    # longer than the fixed default patch's 96, are cut to 3/4 of the volume; z, shorter than 32, stays whole
    network = UNet3D(1, 1, **TINY)
    few = make_plan(_fingerprint((12, 128, 128), count=2), network, memory_budget_bytes="1GB",
                    step_flops=_voxel_flops([]))  # fmt: skip
    assert few.patch_size == [12, 96, 96] and few.val_roi_size == [12, 96, 96]
    assert few.entries["patch_size"].reason == (
        "the smallest training volume 12x128x128, y/x cut to 75% for random crops (2 training volumes); a training "
        "step takes 111 MB of 1000; compute: 110592 voxels, 110.6 GFLOP per step, within the fixed defaults' "
        "32x96x96 step (294912 voxels, 294.9 GFLOP +10%)"
    )
    # eight volumes vary the patches themselves: the whole volume
    many = make_plan(_fingerprint((12, 128, 128), count=8), network, memory_budget_bytes="1GB",
                     step_flops=_voxel_flops([]))  # fmt: skip
    assert many.patch_size == [12, 128, 128]
    # never below the default patch: 100 voxels along y/x leave 96, a multiple of the pooling step (4 here)
    assert make_plan(_fingerprint((12, 100, 160), count=2), network, memory_budget_bytes="1GB",
                     step_flops=_voxel_flops([])).patch_size == [12, 96, 120]  # fmt: skip
    # on CUDA too, where memory alone would take the whole volume
    cuda = make_plan(_fingerprint((12, 128, 128), count=2), network, device="cuda", memory_budget_bytes="1GB")
    assert cuda.patch_size == [12, 96, 96]


def test_on_cuda_only_memory_limits_the_patch(memory_model):
    def no_timing(network, patch, batch):
        raise AssertionError("a step was measured on CUDA")

    fingerprint = _fingerprint((40, 100, 100))
    plan = make_plan(
        fingerprint,
        UNet3D(1, 1, **TINY),
        device="cuda",
        memory_budget_bytes="1GB",
        step_timer=no_timing,
        step_flops=no_timing,
    )
    assert plan.patch_size == [40, 100, 100]
    assert plan.entries["patch_size"].reason == "the smallest training volume; a training step takes 400 MB of 1000"
    assert plan.timing == {"target_seconds": None, "target_source": "--step_seconds auto on cuda"}
    # a number given applies on CUDA too
    timed = make_plan(fingerprint, UNet3D(1, 1, **TINY), device="cuda", memory_budget_bytes="1GB", step_seconds=2,
                      step_timer=_voxel_timer([]))  # fmt: skip
    assert timed.patch_size == [32, 76, 76]
