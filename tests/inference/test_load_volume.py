import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from monai.transforms import Compose

from unet3d_monai.data import Normalized
from unet3d_monai.inference import LoadVolumed


def test_hdf5_volume_loaded_channel_first_with_its_statistics(tmp_path):
    raw = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["raw"] = raw
    d = LoadVolumed("image")({"image": str(tmp_path / "a.h5")})
    assert d["image"].dtype == torch.float32 and tuple(d["image"].shape) == (1, 2, 3, 4)
    np.testing.assert_array_equal(d["image"][0].numpy(), raw)
    # mean of 0..23 is 11.5, population std sqrt((24**2 - 1) / 12)
    assert d["image_stats"]["mean"] == pytest.approx(11.5)
    assert d["image_stats"]["std"] == pytest.approx(np.sqrt((24**2 - 1) / 12))
    assert d["image_meta_dict"]["filename_or_obj"] == str(tmp_path / "a.h5")
    assert d["image_meta_dict"]["format"] == "hdf5"
    normalized = Normalized("image", mode="standardize")(d)["image"]
    np.testing.assert_allclose(normalized[0].numpy(), (raw - 11.5) / np.sqrt((24**2 - 1) / 12), rtol=1e-6)


def test_nonfinite_voxels_replaced_and_left_out_of_the_statistics(tmp_path):
    raw = np.array([[[1.0, np.nan], [3.0, np.inf]]], dtype=np.float32)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["raw"] = raw
    with pytest.warns(RuntimeWarning):
        d = LoadVolumed("image", replace_nonfinite=7.0)({"image": str(tmp_path / "a.h5")})
    assert d["image"].flatten().tolist() == [1.0, 7.0, 3.0, 7.0]
    assert d["image_stats"]["mean"] == pytest.approx(2.0) and d["image_stats"]["nonfinite"] == 2


def test_multi_channel_2d_image_and_nifti_with_affine(tmp_path):
    with h5py.File(tmp_path / "rgb.h5", "w") as f:
        f["raw"] = np.zeros((3, 5, 6), np.float32)
    d = LoadVolumed("image", channels_first_3d=True)({"image": str(tmp_path / "rgb.h5")})
    assert tuple(d["image"].shape) == (3, 1, 5, 6)
    affine = np.diag([0.5, 0.5, 2.0, 1.0])
    nib.save(nib.Nifti1Image(np.ones((4, 5, 6), np.float32), affine), str(tmp_path / "ct.nii.gz"))
    d = Compose([LoadVolumed("image"), Normalized("image", mode="minmax")])({"image": str(tmp_path / "ct.nii.gz")})
    assert tuple(d["image"].shape) == (1, 4, 5, 6) and d["image_meta_dict"]["format"] == "nifti"
    np.testing.assert_array_equal(d["image_meta_dict"]["affine"], affine)
    np.testing.assert_array_equal(d["image"].numpy(), np.zeros((1, 4, 5, 6)))  # (1 - 1) / (0 + eps)
