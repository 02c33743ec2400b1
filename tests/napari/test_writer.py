"""The writer: a labels layer saved as the label dataset of an HDF5 file, beside the raw it belongs to."""

import h5py
import numpy as np
import pytest

pytest.importorskip("napari", reason="the napari plugin needs the extra: pip install 'unet3d-monai[napari]'")

from unet3d_monai.napari.reader import read_layers  # noqa: E402
from unet3d_monai.napari.writer import write_labels  # noqa: E402


def _labels(shape=(4, 6, 8)):
    return (np.random.RandomState(1).rand(*shape) * 5).astype(np.uint32)


def test_labels_round_trip_with_their_voxel_size(tmp_path):
    labels = _labels()
    assert write_labels(tmp_path / "new.h5", labels, {"scale": (2.0, 0.5, 0.5)}) == [str(tmp_path / "new.h5")]
    with h5py.File(tmp_path / "new.h5", "r") as f:
        assert list(f) == ["label"]
        np.testing.assert_array_equal(f["label"][()], labels)
        np.testing.assert_array_equal(f["label"].attrs["element_size_um"], [2.0, 0.5, 0.5])
    ((data, kwargs, kind),) = read_layers(tmp_path / "new.h5")
    assert kind == "labels" and kwargs["scale"] == (2.0, 0.5, 0.5)
    np.testing.assert_array_equal(data.compute(), labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.h5"]  # no temporary file left


def test_labels_replace_only_the_label_of_a_training_volume(tmp_path):
    raw = np.random.RandomState(0).rand(4, 6, 8).astype(np.float32)
    path = tmp_path / "cells.h5"
    with h5py.File(path, "w") as f:
        f["raw"] = raw
        f["raw"].attrs["element_size_um"] = (2.0, 0.5, 0.5)
        f["label"] = np.zeros((4, 6, 8), dtype=np.uint16)
        f["weight"] = np.ones((4, 6, 8), dtype=np.float32)
    corrected = _labels()
    write_labels(path, corrected, {"scale": (2.0, 0.5, 0.5)})
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["label", "raw", "weight"]
        np.testing.assert_array_equal(f["raw"][()], raw)
        np.testing.assert_array_equal(f["raw"].attrs["element_size_um"], [2.0, 0.5, 0.5])
        np.testing.assert_array_equal(f["weight"][()], 1.0)
        np.testing.assert_array_equal(f["label"][()], corrected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.h5"]


def test_labels_that_do_not_fit_the_raw_leave_the_file_alone(tmp_path):
    path = tmp_path / "cells.h5"
    with h5py.File(path, "w") as f:
        f["raw"] = np.zeros((4, 6, 8), dtype=np.float32)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"do not fit the raw volume of .*cells\.h5.*\(4, 6, 8\)"):
        write_labels(path, _labels((4, 6, 9)), {"scale": (1.0, 1.0, 1.0)})
    with pytest.raises(ValueError, match="must be integers"):
        write_labels(path, np.zeros((4, 6, 8), dtype=np.float32), {})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.h5"]
