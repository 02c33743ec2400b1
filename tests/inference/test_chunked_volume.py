"""HDF5Volume (a ChunkedVolume): layout, chunks, region reads, and the file closed when opening fails."""

import h5py
import numpy as np
import pytest

from unet3d_monai.inference import HDF5Volume
from unet3d_monai.inference.chunked_volume import channel_first_shape


def test_channel_first_shape_of_every_stored_layout():
    assert channel_first_shape((5, 6), "a", False) == (1, 1, 5, 6)
    assert channel_first_shape((4, 5, 6), "a", False) == (1, 4, 5, 6)
    assert channel_first_shape((2, 5, 6), "a", True) == (2, 1, 5, 6)
    assert channel_first_shape((3, 4, 5, 6), "a", False) == (3, 4, 5, 6)
    with pytest.raises(ValueError, match=r"^volume x has shape \(6,\); expected \(Y, X\), \(Z, Y, X\)"):
        channel_first_shape((6,), "volume x", False)


def test_regions_chunks_and_layouts(tmp_path):
    data = np.arange(4 * 6 * 8, dtype=np.float32).reshape(4, 6, 8)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("chunked", data=data, chunks=(2, 3, 4))
        f["plain"] = data
        f["image"] = data[0]
    with HDF5Volume(tmp_path / "a.h5", "chunked", "none") as volume:
        assert volume.shape == (1, 4, 6, 8) and volume.stored_shape == (4, 6, 8) and volume.chunks == (2, 3, 4)
        np.testing.assert_array_equal(volume.read((slice(1, 3), slice(0, 6), slice(2, 5))), data[None, 1:3, :, 2:5])
    with HDF5Volume(tmp_path / "a.h5", "plain", "minmax") as volume:
        assert volume.chunks is None
        np.testing.assert_allclose(volume.read_all(), data[None] / data.max(), rtol=1e-6)
    with HDF5Volume(tmp_path / "a.h5", "image", "none") as volume:
        assert volume.shape == (1, 1, 6, 8)
        np.testing.assert_array_equal(volume.read((slice(0, 1), slice(2, 4), slice(0, 8))), data[0][None, None, 2:4])
    with HDF5Volume(tmp_path / "a.h5", "plain", "none", channels_first_3d=True) as volume:
        assert volume.shape == (4, 1, 6, 8)


def test_a_missing_dataset_leaves_the_file_closed(tmp_path):
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        f["raw"] = np.zeros((4, 4, 4), np.float32)
    with pytest.raises(KeyError, match="volume"):
        HDF5Volume(path, "volume")
    with pytest.raises(ValueError, match="has shape"):
        with h5py.File(tmp_path / "b.h5", "w") as f:
            f["raw"] = np.zeros(4, np.float32)
        HDF5Volume(tmp_path / "b.h5", "raw", "none")
    for name in ("a.h5", "b.h5"):  # no handle left open: the files can be opened for writing again
        with h5py.File(tmp_path / name, "a") as f:
            f["more"] = np.ones(2)
