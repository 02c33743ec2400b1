import h5py
import numpy as np
import pytest
import torch
from monai.data import Dataset
from monai.transforms import Compose, EnsureChannelFirstd, LoadImage, LoadImaged

from unet3d_monai.io import HDF5Reader, LoadHDF5d, make_datalist


@pytest.fixture
def shapes_file(write_h5):
    return write_h5(
        "shapes.h5",
        zyx=np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5),
        czyx=np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5),
        flat=np.arange(4 * 5, dtype=np.float32).reshape(1, 4, 5),
        cflat=np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 1, 4, 5),
        yx=np.arange(4 * 5, dtype=np.float32).reshape(4, 5),
    )


@pytest.mark.parametrize(
    "key, spatial_dims, shape, channel_dim",
    [
        ("zyx", None, (1, 3, 4, 5), "no_channel"),
        ("czyx", None, (2, 3, 4, 5), 0),
        ("flat", None, (1, 1, 4, 5), "no_channel"),
        ("flat", 2, (1, 4, 5), "no_channel"),
        ("cflat", 2, (2, 4, 5), 0),
        ("yx", None, (1, 4, 5), "no_channel"),
        ("yx", 2, (1, 4, 5), "no_channel"),
        ("yx", 3, (1, 1, 4, 5), "no_channel"),
    ],
)
def test_loadimaged_with_ensure_channel_first(shapes_file, key, spatial_dims, shape, channel_dim):
    load = Compose(
        [LoadImaged("image", reader=HDF5Reader(key, spatial_dims=spatial_dims)), EnsureChannelFirstd("image")]
    )
    img = load({"image": str(shapes_file)})["image"]
    assert tuple(img.shape) == shape
    assert img.meta["original_channel_dim"] == channel_dim
    assert img.meta["hdf5_key"] == key
    assert img.meta["filename_or_obj"] == str(shapes_file)
    assert tuple(img.meta["spatial_shape"]) == shape[1:]
    assert img.affine.shape == (len(shape), len(shape))
    with h5py.File(shapes_file) as f:
        stored = f[key][()]
    np.testing.assert_array_equal(img.numpy().ravel(), stored.astype(np.float32).ravel())


def test_reader_direct_api_keeps_dtype(shapes_file):
    reader = HDF5Reader("zyx")
    array, meta = reader.get_data(reader.read(shapes_file))
    assert array.dtype == np.uint16 and array.shape == (3, 4, 5)
    assert meta["original_channel_dim"] == "no_channel"
    array, _ = HDF5Reader("zyx", dtype=np.float64).get_data(reader.read(shapes_file))
    assert array.dtype == np.uint16  # dtype applies in read
    array, _ = HDF5Reader("zyx", dtype=np.float64).get_data(HDF5Reader("zyx", dtype=np.float64).read(shapes_file))
    assert array.dtype == np.float64


def test_verify_suffix():
    reader = HDF5Reader()
    assert reader.verify_suffix("a.h5") and reader.verify_suffix(["a.HDF5", "b.hdf", "c.hd5"])
    assert not reader.verify_suffix("a.nii.gz") and not reader.verify_suffix(["a.h5", "b.npy"])


def test_several_files_are_stacked_as_channels(write_h5):
    a = write_h5("a.h5", raw=np.zeros((2, 3, 4), np.float32))
    b = write_h5("b.h5", raw=np.ones((2, 3, 4), np.float32))
    img = LoadImage(reader=HDF5Reader, key="raw", image_only=True, ensure_channel_first=True)([a, b])
    assert tuple(img.shape) == (2, 2, 3, 4)
    assert torch.equal(img[1], torch.ones(2, 3, 4))


def test_element_size_becomes_affine_spacing(write_h5, tmp_path):
    path = tmp_path / "spaced.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("raw", data=np.zeros((2, 3, 4), np.float32))
        ds.attrs["element_size_um"] = (2.0, 0.5, 0.25)
    img = LoadImage(reader=HDF5Reader("raw"), image_only=True)(path)
    np.testing.assert_allclose(np.diag(img.affine.numpy()), [2.0, 0.5, 0.25, 1.0])


def test_resolution_attribute_and_file_attributes_give_the_spacing_as_read_voxel_size_does(tmp_path):
    """``resolution`` is read as ``element_size_um`` is; the dataset's attribute before the file's, and
    ``element_size_um`` before ``resolution``: the affine agrees with ``read_voxel_size`` in each case."""
    from unet3d_monai.io.voxel_size import read_voxel_size

    cases = [
        ({"resolution": (3.0, 1.0, 0.5)}, {}, [3.0, 1.0, 0.5]),
        ({}, {"resolution": (1.5, 0.5, 0.5)}, [1.5, 0.5, 0.5]),
        ({"resolution": (4.0, 2.0, 2.0)}, {"element_size_um": (1.0, 1.0, 1.0)}, [4.0, 2.0, 2.0]),
        ({"element_size_um": (2.0, 1.0, 1.0), "resolution": (9.0, 9.0, 9.0)}, {}, [2.0, 1.0, 1.0]),
    ]
    for index, (dataset_attrs, file_attrs, expected) in enumerate(cases):
        path = tmp_path / f"spaced{index}.h5"
        with h5py.File(path, "w") as f:
            f.attrs.update(file_attrs)
            f.create_dataset("raw", data=np.zeros((2, 3, 4), np.float32)).attrs.update(dataset_attrs)
        img = LoadImage(reader=HDF5Reader("raw"), image_only=True)(path)
        np.testing.assert_allclose(np.diag(img.affine.numpy())[:3], expected)
        assert list(read_voxel_size(path, "raw")[0]) == expected


def test_whole_volume_datalist_with_two_keys(write_h5):
    raw = np.random.RandomState(0).rand(3, 4, 5).astype(np.float32)
    path = write_h5("v/one.h5", raw=raw, label=(raw > 0.5).astype(np.uint8))
    load = Compose(
        [
            LoadImaged("image", reader=HDF5Reader("raw")),
            LoadImaged("label", reader=HDF5Reader("label")),
            EnsureChannelFirstd(["image", "label"]),
        ]
    )
    item = Dataset(make_datalist(path.parent), transform=load)[0]
    np.testing.assert_array_equal(item["image"][0].numpy(), raw)
    np.testing.assert_array_equal(item["label"][0].numpy(), (raw > 0.5).astype(np.float32))


def test_loadhdf5d_loads_image_and_label(write_h5):
    raw = np.random.RandomState(1).rand(1, 6, 7).astype(np.float32)
    path = write_h5("two.h5", raw=raw, label=(raw > 0.5).astype(np.uint8))
    load = LoadHDF5d(["image", "label"], hdf5_keys=["raw", "label"], spatial_dims=2)
    d = load({"image": str(path), "label": str(path)})
    assert tuple(d["image"].shape) == (1, 6, 7) and d["image"].dtype == torch.float32
    np.testing.assert_array_equal(d["image"][0].numpy(), raw[0])
    np.testing.assert_array_equal(d["label"][0].numpy(), (raw[0] > 0.5).astype(np.float32))
    assert d["label"].meta["hdf5_key"] == "label"


def test_stacking_files_of_different_shapes_is_an_error(write_h5):
    a = write_h5("a.h5", raw=np.zeros((2, 3, 4), np.float32))
    b = write_h5("b.h5", raw=np.zeros((2, 3, 5), np.float32))
    c = write_h5("c.h5", raw=np.zeros((1, 2, 3, 4), np.float32))
    reader = HDF5Reader("raw")
    with pytest.raises(ValueError, match=r"Cannot stack .*a\.h5.*\(2, 3, 4\).*b\.h5.*\(2, 3, 5\).*differ\."):
        reader.get_data(reader.read([a, b]))
    with pytest.raises(ValueError, match=r"one has a channel axis and the other has not\."):
        reader.get_data(reader.read([a, c]))
