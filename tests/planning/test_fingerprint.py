import json

import h5py
import nibabel as nib
import numpy as np
import pytest

from tests.planning.conftest import write_volume
from unet3d_monai.planning import DatasetFingerprint, compute_fingerprint, read_voxel_size


def test_fingerprint_of_a_set_with_known_statistics(two_volumes):
    fingerprint = compute_fingerprint(two_volumes)
    assert [v.shape for v in fingerprint.volumes] == [[20, 30, 40], [24, 30, 36]]
    assert fingerprint.median_shape == [22.0, 30.0, 38.0]
    assert fingerprint.min_shape == [20, 30, 36]
    assert fingerprint.voxel_size == [8.0, 1.0, 1.0]
    assert fingerprint.voxel_size_sources == ["element_size_um", "resolution"]
    # the box holds 4*6*8 = 192 voxels of 50, the rest is 10
    foreground = fingerprint.foreground_intensity
    assert foreground["mean"] == pytest.approx(50.0) and foreground["stdev"] == pytest.approx(0.0, abs=1e-6)
    voxels_a, voxels_b = 20 * 30 * 40, 24 * 30 * 36
    mean_a, mean_b = (10 * voxels_a + 40 * 192) / voxels_a, (10 * voxels_b + 40 * 192) / voxels_b
    assert fingerprint.intensity["mean"] == pytest.approx((mean_a + mean_b) / 2, rel=1e-5)
    assert fingerprint.intensity["min"] == 10.0 and fingerprint.intensity["max"] == 50.0
    assert fingerprint.label_kind == "classes"
    assert fingerprint.class_frequencies["1"] == pytest.approx(2 * 192 / (voxels_a + voxels_b))
    assert fingerprint.class_frequencies["0"] == pytest.approx(1 - 2 * 192 / (voxels_a + voxels_b))
    assert fingerprint.object_size == [4.0, 6.0, 8.0] and fingerprint.object_count == 2


def test_fingerprint_round_trips_through_json(two_volumes):
    fingerprint = compute_fingerprint(two_volumes)
    again = DatasetFingerprint.from_dict(json.loads(json.dumps(fingerprint.to_dict())))
    assert again == fingerprint


def test_large_volumes_are_read_with_a_stride_and_object_sizes_scaled_back(tmp_path):
    write_volume(tmp_path / "big.h5", (16, 32, 32), (slice(0, 8), slice(0, 16), slice(0, 16)))
    fingerprint = compute_fingerprint(tmp_path / "big.h5", max_voxels=16 * 32 * 32 // 8)
    assert fingerprint.volumes[0].stride == 2
    assert fingerprint.object_size == [8.0, 16.0, 16.0]


def test_instance_labels_give_object_sizes_per_instance(tmp_path):
    label = np.zeros((8, 40, 40), np.uint16)
    for index in range(40):  # 40 instances of 2 x 4 x 6 voxels, more than any class count
        z, y, x = 4 * (index // 20), 4 * ((index // 5) % 4) * 2, 8 * (index % 5)
        label[z : z + 2, y : y + 4, x : x + 6] = index + 1
    raw = np.where(label > 0, 20.0, 5.0).astype(np.float32)
    with h5py.File(tmp_path / "cells.h5", "w") as f:
        f["raw"], f["label"] = raw, label
    fingerprint = compute_fingerprint(tmp_path / "cells.h5")
    assert fingerprint.label_kind == "instances"
    assert fingerprint.object_size == [2.0, 4.0, 6.0] and fingerprint.object_count == 40
    assert fingerprint.class_frequencies["1"] == pytest.approx(40 * 48 / raw.size)


def test_voxel_size_from_nifti_affine_or_given(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((6, 7, 8), np.float32), np.diag([0.5, 0.5, 3.0, 1.0])), tmp_path / "a.nii.gz")
    assert read_voxel_size(tmp_path / "a.nii.gz") == ((0.5, 0.5, 3.0), "NIfTI affine")
    write_volume(tmp_path / "plain.h5", (4, 5, 6), (slice(0, 1),) * 3)
    assert read_voxel_size(tmp_path / "plain.h5") == (None, "unknown")
    assert read_voxel_size(tmp_path / "plain.h5", given=[2, 1, 1]) == ((2.0, 1.0, 1.0), "--voxel_size")
    with pytest.raises(ValueError, match=r"--voxel_size must be one positive number or 3"):
        read_voxel_size(tmp_path / "plain.h5", given=[2, 1])


def test_a_blank_volume_has_zero_intensities(tmp_path):
    write_volume(tmp_path / "blank.h5", (4, 8, 8), (slice(0, 2),) * 3, background=0.0, foreground=0.0)
    fingerprint = compute_fingerprint(tmp_path / "blank.h5")
    assert fingerprint.intensity == dict.fromkeys(fingerprint.intensity, 0.0)
    assert fingerprint.object_size == [2.0, 2.0, 2.0]
