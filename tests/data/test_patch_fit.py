import logging

import h5py
import numpy as np
import pytest

from unet3d_monai.data import fit_patch_size


def _write(path, shape):
    with h5py.File(path, "w") as f:
        f.create_dataset("raw", data=np.zeros(shape, np.float32))
    return path


def test_patch_is_clipped_to_the_smallest_volume_along_each_axis(tmp_path, caplog):
    _write(tmp_path / "a.h5", (95, 117, 45))
    _write(tmp_path / "b.h5", (60, 200, 200))
    with caplog.at_level(logging.WARNING, logger="unet3d_monai.data.patch_fit"):
        assert fit_patch_size([80, 170, 170], tmp_path) == [60, 117, 45]
    assert "[60, 117, 45]" in caplog.text


def test_patch_that_fits_is_unchanged_and_channels_are_not_spatial(tmp_path, caplog):
    _write(tmp_path / "a.h5", (2, 40, 128, 128))
    with caplog.at_level(logging.WARNING, logger="unet3d_monai.data.patch_fit"):
        assert fit_patch_size([32, 96, 96], tmp_path) == [32, 96, 96]
    assert caplog.text == ""


def test_minimum_size_wins_over_a_thinner_volume(tmp_path):
    _write(tmp_path / "a.h5", (5, 64, 64))
    assert fit_patch_size([32, 64, 64], tmp_path, min_size=[16, 16, 16]) == [16, 64, 64]
    assert fit_patch_size([32, 64, 64], tmp_path, min_size=8) == [8, 64, 64]


def test_2d_patch_fits_volumes_stored_with_a_singleton_z(tmp_path):
    _write(tmp_path / "a.h5", (1, 100, 300))
    assert fit_patch_size([256, 256], tmp_path) == [100, 256]


def test_dimension_mismatch_is_one_sentence(tmp_path):
    _write(tmp_path / "a.h5", (40, 64, 64))
    with pytest.raises(ValueError, match=r"patch_size \(64, 64\) has 2 dimensions but HDF5 file '.*a.h5'"):
        fit_patch_size([64, 64], tmp_path)
