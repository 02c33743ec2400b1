"""Each kind of bad input gives one sentence naming the file and the problem."""

import numpy as np
import pytest
from monai.transforms import LoadImage

from unet3d_monai.data import (
    HDF5FileError,
    HDF5KeyError,
    HDF5PatchDataset,
    HDF5Reader,
    LoadHDF5d,
    NonFiniteWarning,
    RandomHDF5PatchDataset,
    compute_volume_stats,
    find_h5_files,
)


def _one_sentence(err: BaseException) -> str:
    msg = str(err)
    assert "\n" not in msg and msg.endswith(".")
    return msg


@pytest.fixture
def good(write_h5):
    return write_h5("good.h5", raw=np.zeros((4, 6, 6), np.float32), label=np.zeros((4, 6, 6), np.uint8))


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.h5"
    for call in (
        lambda: HDF5PatchDataset(missing, (2, 2, 2)),
        lambda: HDF5Reader("raw").read(missing),
        lambda: compute_volume_stats(missing, "raw"),
    ):
        with pytest.raises(FileNotFoundError, match=r"'.*nope\.h5' does not exist") as e:
            call()
        _one_sentence(e.value)


def test_missing_internal_dataset_lists_present(good):
    with pytest.raises(HDF5KeyError) as e:
        HDF5PatchDataset(good, (2, 2, 2), raw_key="volume")
    assert _one_sentence(e.value) == (
        f"HDF5 file '{good}': dataset 'volume' is missing; datasets present: 'label', 'raw'."
    )
    with pytest.raises(HDF5KeyError, match="dataset 'weights' is missing"):
        HDF5PatchDataset(good, (2, 2, 2), weight_key="weights")
    with pytest.raises(HDF5KeyError, match="dataset 'lbl' is missing"):
        LoadHDF5d("image", hdf5_keys="lbl")({"image": good})
    with pytest.raises(HDF5KeyError, match="dataset 'lbl' is missing"):
        LoadImage(image_only=True)(good, reader=HDF5Reader("lbl"))


def test_spatial_shape_mismatch_names_both_shapes(write_h5):
    path = write_h5("mismatch.h5", raw=np.zeros((4, 6, 6), np.float32), label=np.zeros((2, 4, 6, 5), np.uint8))
    with pytest.raises(ValueError) as e:
        HDF5PatchDataset(path, (2, 2, 2))
    msg = _one_sentence(e.value)
    assert "mismatch.h5" in msg and "(4, 6, 6)" in msg and "(2, 4, 6, 5)" in msg


@pytest.mark.parametrize("shape", [(5,), (1, 2, 3, 4, 5)])
def test_bad_rank(write_h5, shape):
    path = write_h5("rank.h5", raw=np.zeros(shape, np.float32))
    for call in (lambda: HDF5PatchDataset(path, (2, 2, 2), label_key=None), lambda: HDF5Reader().read(path)):
        with pytest.raises(ValueError, match=rf"rank\.h5' dataset 'raw' has shape .*rank {len(shape)}") as e:
            call()
        _one_sentence(e.value)


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="contains no HDF5 files") as e:
        HDF5PatchDataset(tmp_path / "empty", (2, 2, 2))
    _one_sentence(e.value)
    with pytest.raises(FileNotFoundError, match=r"Pattern '.*\*\.h5' matches no HDF5 files"):
        find_h5_files(str(tmp_path / "*.h5"))


@pytest.mark.parametrize(
    "patch, stride, match",
    [
        ((2, 2, 0), None, r"patch_size must be a sequence of positive integers, got \(2, 2, 0\)"),
        ((2, -1, 2), None, "patch_size must be"),
        ((2.5, 2, 2), None, "patch_size must be"),
        ((2, 2, 2, 2), None, r"patch_size \(2, 2, 2, 2\) must have 2 or 3 dimensions"),
        ((2, 2, 2), (1, 1), r"stride \(1, 1\) has 2 dimensions; expected 3"),
        ((2, 2, 2), (1, 0, 1), "stride must be a sequence of positive integers"),
        ((2, 2), None, r"patch_size \(2, 2\) has 2 dimensions but HDF5 file '.*good\.h5'.*\(4, 6, 6\)"),
    ],
)
def test_bad_patch_or_stride(good, patch, stride, match):
    with pytest.raises(ValueError, match=match) as e:
        HDF5PatchDataset(good, patch, stride)
    _one_sentence(e.value)


def test_bad_options(good):
    with pytest.raises(ValueError, match="threshold must be in"):
        HDF5PatchDataset(good, (2, 2, 2), threshold=1.5)
    with pytest.raises(ValueError, match="needs a label_key"):
        HDF5PatchDataset(good, (2, 2, 2), label_key=None, threshold=0.5)
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        RandomHDF5PatchDataset(good, (2, 2, 2), num_samples=0)
    with pytest.raises(ValueError, match="spatial_dims must be None, 2 or 3"):
        HDF5Reader(spatial_dims=4)
    with pytest.raises(ValueError, match=r"spatial_dims=2 expects"):
        HDF5Reader(spatial_dims=2).read(good)


def test_nan_inf_in_raw_warns_naming_the_file(write_h5):
    raw = np.ones((4, 4, 4), np.float32)
    raw[1, 2, 3] = np.nan
    raw[0, 0, 0] = -np.inf
    path = write_h5("nan.h5", raw=raw)
    with pytest.warns(NonFiniteWarning, match=r"'.*nan\.h5' dataset 'raw' contains 2 NaN/Inf values"):
        ds = HDF5PatchDataset(path, (2, 2, 2), label_key=None)
    assert ds[0]["image_stats"]["nonfinite"] == 2


def test_all_nan_raw_is_an_error(write_h5):
    path = write_h5("allnan.h5", raw=np.full((2, 2, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match=r"allnan\.h5' dataset 'raw' has no finite values"):
        compute_volume_stats(path, "raw")


def test_not_hdf5(tmp_path):
    path = tmp_path / "fake.h5"
    path.write_bytes(b"this is a text file, not HDF5\n" * 10)
    for call in (lambda: HDF5PatchDataset(path, (2, 2, 2)), lambda: HDF5Reader().read(path)):
        with pytest.raises(HDF5FileError, match=r"File '.*fake\.h5' is not an HDF5 file") as e:
            call()
        _one_sentence(e.value)


def test_truncated_file(write_h5):
    path = write_h5("cut.h5", raw=np.random.RandomState(0).rand(20, 30, 30).astype(np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(HDF5FileError, match=r"'.*cut\.h5' cannot be read; it may be truncated") as e:
        HDF5PatchDataset(path, (2, 2, 2), label_key=None)
    assert "\n" not in str(e.value)
