import logging

import h5py
import numpy as np
import torch

from unet3d_monai.inference import LoadVolumed, Segmentd, foreground_watershed


def test_segmentd_labels_the_prediction_into_its_own_key():
    pred = torch.tensor([[[0.2, 0.7]], [[0.8, 0.3]]])
    d = Segmentd("pred", mode="argmax")({"pred": pred})
    assert d["segmentation"].tolist() == [[1, 0]] and d["segmentation"].dtype == np.uint32
    assert d["pred"] is pred


def _flat_nuclei_file(path, element_size_um=(2.0, 0.5, 0.5)):
    """Two touching nuclei, balls of radius 5 um 8.5 um apart, on voxels 2 um deep: a foreground map (0.9/0.1)."""
    spacing = np.asarray(element_size_um)
    z, y, x = np.meshgrid(*[np.arange(n) * s for n, s in zip((11, 30, 47), spacing)], indexing="ij")
    first = (z - 10) ** 2 + (y - 7.5) ** 2 + (x - 7.5) ** 2 <= 25
    second = (z - 10) ** 2 + (y - 7.5) ** 2 + (x - 16) ** 2 <= 25
    foreground = np.where(first | second, 0.9, 0.1).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["raw"] = foreground
        f["raw"].attrs["element_size_um"] = list(element_size_um)
    return foreground


def _loaded_meta(path):
    """The meta dict the prediction chain's loader gives the input ``path`` (with the voxel size it read)."""
    return LoadVolumed("image")({"image": str(path)})["image_meta_dict"]


def test_segmentd_measures_distances_in_the_inputs_voxel_size(tmp_path, caplog):
    path = tmp_path / "nuclei.h5"
    foreground = _flat_nuclei_file(path)
    sample = {"pred": torch.from_numpy(foreground[None]), "image_meta_dict": _loaded_meta(path)}
    step = Segmentd("pred", mode="foreground_watershed", min_distance=5)
    with caplog.at_level(logging.INFO, logger="unet3d_monai.inference.input_sampling"):
        labels = step(sample)["segmentation"]
    assert "voxel size [2.0, 0.5, 0.5] (element_size_um, 4 times coarser" in caplog.text
    expected = foreground_watershed(foreground, min_distance=5, sampling=(2.0, 0.5, 0.5))
    np.testing.assert_array_equal(labels, expected)
    assert labels.max() == 2 and labels[5, 15, 15] != labels[5, 15, 32]
    # without the input's meta dict, or with image_key None, voxels are cubes: the flat nuclei fall apart
    cubes = foreground_watershed(foreground, min_distance=5)
    assert cubes.max() == 6
    np.testing.assert_array_equal(step({"pred": foreground[None]})["segmentation"], cubes)
    np.testing.assert_array_equal(
        Segmentd("pred", mode="foreground_watershed", min_distance=5, image_key=None)(sample)["segmentation"], cubes
    )


def test_segmentd_without_a_voxel_size_in_the_file_treats_voxels_as_cubes(tmp_path):
    path = tmp_path / "plain.h5"
    foreground = _flat_nuclei_file(path)
    with h5py.File(path, "a") as f:
        del f["raw"].attrs["element_size_um"]
    sample = {"pred": foreground[None], "image_meta_dict": _loaded_meta(path)}
    labels = Segmentd("pred", mode="foreground_watershed", min_distance=5)(sample)["segmentation"]
    np.testing.assert_array_equal(labels, foreground_watershed(foreground, min_distance=5))


def test_segmentd_reads_a_nifti_inputs_voxel_size_in_its_axis_order(tmp_path):
    """A NIfTI array is (X, Y, Z) and its affine's column lengths are in that order: the flat nuclei stored
    transposed, with 0.5 x 0.5 x 2 mm voxels, are segmented as the HDF5 stack."""
    import nibabel as nib

    foreground = _flat_nuclei_file(tmp_path / "nuclei.h5")
    transposed = np.ascontiguousarray(foreground.transpose(2, 1, 0))
    path = tmp_path / "nuclei.nii.gz"
    nib.save(nib.Nifti1Image(transposed, np.diag([0.5, 0.5, 2.0, 1.0])), str(path))
    sample = {"pred": transposed[None], "image_meta_dict": _loaded_meta(path)}
    labels = Segmentd("pred", mode="foreground_watershed", min_distance=5)(sample)["segmentation"]
    np.testing.assert_array_equal(labels, foreground_watershed(transposed, min_distance=5, sampling=(0.5, 0.5, 2.0)))
    assert labels.max() == 2


def test_segmentd_counts_min_distance_in_the_models_voxels(tmp_path):
    """With the model's voxel size (the input resampled to it), min_distance counts the model's finest voxel: the
    segmentation equals foreground_watershed with that unit, and differs from counting the input's voxels."""
    path = tmp_path / "nuclei.h5"
    foreground = _flat_nuclei_file(path)
    sample = {"pred": torch.from_numpy(foreground[None]), "image_meta_dict": _loaded_meta(path)}
    # the nuclei's centres are 8.5 um apart: 10 of the model's 1 um voxels keep one seed, 10 of the input's 0.5 um
    # voxels (5 um) keep both
    step = Segmentd("pred", mode="foreground_watershed", min_distance=10, model_voxel_size=(4.0, 1.0, 1.0))
    labels = step(sample)["segmentation"]
    np.testing.assert_array_equal(
        labels, foreground_watershed(foreground, min_distance=10, sampling=(2.0, 0.5, 0.5), unit=1.0)
    )
    assert labels.max() == 1
    assert foreground_watershed(foreground, min_distance=10, sampling=(2.0, 0.5, 0.5)).max() == 2
