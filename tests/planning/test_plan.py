import json

import pytest

from tests.planning.conftest import write_volume
from unet3d_monai.networks import UNet3D
from unet3d_monai.planning import compute_fingerprint, make_plan, plan_pooling, training_step_bytes

TINY = {"f_maps": [4, 8, 16], "num_groups": 2}


@pytest.fixture
def fingerprint(two_volumes):
    return compute_fingerprint(two_volumes)


def test_anisotropic_spacing_gives_anisotropic_pooling():
    assert plan_pooling([4.0, 1.0, 1.0], [64, 256, 256], 3)[0] == [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
    assert plan_pooling([8.0, 1.0, 1.0], [64, 256, 256], 3)[0] == [[1, 2, 2], [1, 2, 2], [2, 2, 2]]
    assert plan_pooling([2.0, 1.0, 1.0], [64, 256, 256], 3)[0] == [[2, 2, 2]] * 3
    # an axis that would fall below 4 voxels is not pooled
    assert plan_pooling([1.0, 1.0, 1.0], [9, 64, 64], 2)[0] == [[2, 2, 2], [1, 2, 2]]


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
    plan = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes="1GB")
    assert plan.patch_size == [20, 30, 36]
    assert plan.val_roi_size == plan.patch_size
    given = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes="1GB", patch_size=[32, 64, 16])
    assert given.patch_size == [20, 30, 16] and given.entries["patch_size"].source == "set"


def test_memory_fit_shrinks_the_patch_under_a_small_budget(fingerprint):
    ample = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes="1GB")
    network = ample.network(UNet3D(1, 1, **TINY))
    full = training_step_bytes(network, (20, 30, 36), 1, "cpu")
    assert ample.memory["measured_bytes"] == full
    small = make_plan(fingerprint, UNet3D(1, 1, **TINY), memory_budget_bytes=full // 2)
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
    assert "4x1x1" in rows["voxel_size"] and "1x2x2 2x2x2" in rows["pool_kernel_size"]
    assert rows["batch_size"].split()[1] == "2" and rows["batch_size"].endswith("(set)")
