import h5py
import numpy as np
import pytest

from unet3d_monai.io import HDF5PredictionWriter
from unet3d_monai.io.writers import convert_predictions


def test_output_appears_only_on_commit(tmp_path):
    output = tmp_path / "a_predictions.h5"
    writer = HDF5PredictionWriter(output, tmp_path / "a.h5")
    writer.create_predictions((1, 2, 3, 4))
    writer.write_predictions((slice(0, 2), slice(0, 3), slice(0, 4)), np.full((1, 2, 3, 4), 0.25))
    assert not output.exists() and (tmp_path / "a_predictions.h5.part").exists()
    assert writer.commit() == output
    assert output.exists() and not (tmp_path / "a_predictions.h5.part").exists()
    with h5py.File(output, "r") as f:
        np.testing.assert_array_equal(f["predictions"][()], 0.25)


def test_failed_write_leaves_the_existing_output_untouched(tmp_path):
    output = tmp_path / "a_predictions.h5"
    with h5py.File(output, "w") as f:
        f["predictions"] = np.ones(3)
    with pytest.raises(RuntimeError), HDF5PredictionWriter(output, overwrite=True) as writer:
        writer.create_predictions((1, 2, 2, 2))
        raise RuntimeError("prediction failed")
    assert not (tmp_path / "a_predictions.h5.part").exists()
    with h5py.File(output, "r") as f:
        np.testing.assert_array_equal(f["predictions"][()], np.ones(3))
    with pytest.raises(FileExistsError):
        HDF5PredictionWriter(output)


def test_uint8_and_float16_conversion():
    values = np.array([-0.1, 0.0, 0.2, 0.5, 1.0, 1.3])
    np.testing.assert_array_equal(convert_predictions(values, "uint8"), [0, 0, 51, 128, 255, 255])
    assert convert_predictions(values, "float16").dtype == np.float16
    with pytest.raises(ValueError, match="float64"):
        convert_predictions(values, "float64")
