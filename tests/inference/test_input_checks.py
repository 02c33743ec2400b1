"""Prediction refuses, before writing anything, inputs and options it cannot score."""

import h5py
import nibabel as nib
import numpy as np
import pytest
from monai.inferers import SlidingWindowInferer

from tests.inference._networks import TinyNet
from unet3d_monai.inference import VolumePredictor, check_window_options, predict

ROI = (8, 12, 10)


def _write_h5(path, data, key="raw"):
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data, chunks=True)
    return path


def _predictor(out, roi=ROI, **kwargs):
    inferer = SlidingWindowInferer(roi_size=roi, overlap=kwargs.pop("overlap", 0.25), mode="gaussian")
    return VolumePredictor(TinyNet(), inferer, out, device="cpu", progress=False, **kwargs)


@pytest.fixture
def raw():
    return np.random.RandomState(0).rand(9, 14, 12).astype(np.float32) * 100


@pytest.mark.parametrize("bad, normalization", [(np.nan, "standardize"), (np.inf, "none"), (-np.inf, "percentile")])
def test_nonfinite_voxels_are_refused_before_anything_is_written(raw, tmp_path, bad, normalization):
    folder = tmp_path / "in"
    folder.mkdir()
    _write_h5(folder / "a_good.h5", raw)
    broken = raw.copy()
    broken[4, 5, 6] = broken[0, 0, 0] = bad
    _write_h5(folder / "b_broken.h5", broken, key="volumes/raw")
    with h5py.File(folder / "a_good.h5", "a") as f:
        f["volumes/raw"] = raw
    predictor = _predictor(tmp_path / "out", raw_key="volumes/raw", normalization=normalization)
    with pytest.raises(ValueError) as error:
        predictor.run(folder)
    assert str(error.value) == (
        f"Input '{folder / 'b_broken.h5'}' (dataset 'volumes/raw') has 2 NaN or infinite voxels, which the network "
        "cannot score; nothing was written. Repair the data, or pass --replace_nonfinite <value> (e.g. 0) to "
        "predict with those voxels replaced."
    )
    assert not (tmp_path / "out").exists()  # not even the good file's output


def test_nonfinite_voxels_replaced_when_asked(raw, tmp_path):
    broken = raw.copy()
    broken[4, 5, 6] = np.nan
    path = _write_h5(tmp_path / "cells.h5", broken)
    out = _predictor(tmp_path / "out", replace_nonfinite=0).predict_path(path)
    finite = broken[np.isfinite(broken)].astype(np.float64)  # the statistics leave the NaN voxel out
    filled = np.where(np.isfinite(broken), broken, 0.0)
    expected = predict(TinyNet(), ((filled - finite.mean()) / finite.std()).astype(np.float32), ROI, device="cpu")
    with h5py.File(out, "r") as f:
        predictions = f["predictions"][()]
    assert np.isfinite(predictions).all()
    np.testing.assert_allclose(predictions, expected, atol=1e-5)


def test_nonfinite_nifti_is_refused(raw, tmp_path):
    broken = raw.copy()
    broken[1, 2, 3] = np.nan
    nib.save(nib.Nifti1Image(broken, np.eye(4)), str(tmp_path / "ct.nii.gz"))
    with pytest.raises(ValueError, match=r"ct\.nii\.gz' has 1 NaN or infinite voxels"):
        _predictor(tmp_path / "out").run(tmp_path / "ct.nii.gz")
    assert not (tmp_path / "out").exists()


def test_a_2d_image_for_a_3d_network_is_refused(tmp_path):
    path = _write_h5(tmp_path / "slice.h5", np.random.RandomState(0).rand(30, 40).astype(np.float32))
    with pytest.raises(ValueError) as error:
        _predictor(tmp_path / "out").run(path)
    assert str(error.value).startswith(
        f"Input '{path}' (dataset 'raw') is a 2D image of shape (Y, X) = (30, 40), but this network is 3D and needs "
        "a (Z, Y, X) or (C, Z, Y, X) volume"
    )
    assert not (tmp_path / "out").exists()


def test_a_channel_count_other_than_the_network_s_is_refused(raw, tmp_path):
    path = _write_h5(tmp_path / "two.h5", np.stack([raw, raw]))
    with pytest.raises(ValueError, match=r"two\.h5' \(dataset 'raw', .* has 2 channels but the network expects 1"):
        _predictor(tmp_path / "out").run(path)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "options, match",
    [
        (
            {"roi_size": [0, 64, 64]},
            r"--roi_size \[0, 64, 64\] must hold 2 or 3 whole numbers of voxels, each at least 1",
        ),
        ({"roi_size": [8, 16.5, 16]}, r"--roi_size \[8, 16\.5, 16\]"),
        ({"roi_size": [8, 16, 16], "overlap": 1.0}, r"--overlap 1\.0 must be a fraction of the window of at least 0"),
        ({"roi_size": [8, 16, 16], "overlap": [0.5, 0.5]}, r"gives 2 fractions but --roi_size \[8, 16, 16\] has 3"),
        ({"roi_size": [8, 16, 16], "sw_batch_size": 0}, r"--sw_batch_size 0 must be a whole number of windows"),
        ({"roi_size": [8, 16, 16], "block_shape": [0, 8, 8]}, r"--block_shape \[0, 8, 8\] must hold 3 whole numbers"),
    ],
)
def test_window_options_are_checked_up_front(options, match):
    with pytest.raises(ValueError, match=match):
        check_window_options(**options)


def test_good_window_options_pass():
    check_window_options([64, 128, 128], 0.25, 4, [64, 256, 256])
    check_window_options([256, 256], [0.0, 0.5], 1)
    check_window_options(96)


def test_predictor_checks_its_inferer_and_replacement(tmp_path):
    with pytest.raises(ValueError, match=r"--roi_size \[0, 12, 10\]"):
        _predictor(tmp_path, roi=(0, 12, 10))
    with pytest.raises(ValueError, match=r"--overlap -0\.1"):
        _predictor(tmp_path, overlap=-0.1)
    with pytest.raises(ValueError, match=r"--replace_nonfinite 'nan' must be a finite number"):
        _predictor(tmp_path, replace_nonfinite="nan")
