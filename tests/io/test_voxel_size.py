"""Voxel sizes of zarr stores: array/group attributes, OME-Zarr 0.4 and 0.5 metadata, given, malformed."""

import logging

import h5py
import numpy as np
import pytest

from unet3d_monai.io.voxel_size import read_voxel_size, volume_shape

zarr = pytest.importorskip("zarr", reason="needs the optional extra 'distributed' (zarr)")


def _axes(names):
    kinds = {"c": "channel", "t": "time"}
    return [{"name": n, "type": kinds.get(n, "space"), **({} if n in kinds else {"unit": "micrometer"})} for n in names]


def _multiscale(names, scales, overall=None):
    """A multiscale entry listing datasets "0", "1", ... with one scale each."""
    entry = {
        "axes": _axes(names),
        "datasets": [
            {"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": s}]} for i, s in enumerate(scales)
        ],
    }
    if overall is not None:
        entry["coordinateTransformations"] = [{"type": "scale", "scale": overall}]
    return entry


def _pyramid(path, shapes, zarr_format=3):
    group = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    for i, shape in enumerate(shapes):
        group.create_array(str(i), shape=shape, chunks=shape, dtype="float32")
    return group


def test_zarr_attribute_of_the_array_then_of_the_group(tmp_path):
    group = zarr.open_group(str(tmp_path / "a.zarr"), mode="w")
    group.create_array("raw", shape=(4, 6, 8), dtype="float32").attrs["element_size_um"] = [2.0, 0.5, 0.25]
    group.create_array("other", shape=(4, 6, 8), dtype="float32")
    group.attrs["resolution"] = [3.0, 1.0, 1.0]
    assert read_voxel_size(tmp_path / "a.zarr", "raw") == ((2.0, 0.5, 0.25), "element_size_um")
    assert read_voxel_size(tmp_path / "a.zarr", "other", given=[9, 9, 9]) == ((3.0, 1.0, 1.0), "resolution")
    assert volume_shape(tmp_path / "a.zarr", "raw") == (4, 6, 8)
    # a store that is one array: its own attributes, whatever the key
    array = zarr.create_array(str(tmp_path / "one.zarr"), shape=(2, 5, 6, 7), dtype="float32")
    array.attrs["element_size_um"] = [1.5, 1.0, 1.0]
    assert read_voxel_size(tmp_path / "one.zarr", "raw") == ((1.5, 1.0, 1.0), "element_size_um")
    assert volume_shape(tmp_path / "one.zarr", "raw") == (5, 6, 7)


def test_ome_zarr_04_drops_the_channel_axis_and_multiplies_the_multiscale_scale(tmp_path, caplog):
    """NGFF 0.4 (zarr v2): axes c, z, y, x; dataset "1" is downsampled 2x in y/x, all scaled by the
    multiscale-level (1, 1, 0.5, 0.5)."""
    group = _pyramid(tmp_path / "img.ome.zarr", [(2, 4, 16, 16), (2, 4, 8, 8)], zarr_format=2)
    group.attrs["multiscales"] = [
        {"version": "0.4", **_multiscale("czyx", [[1, 3.0, 0.4, 0.4], [1, 3.0, 0.8, 0.8]], [1, 1, 0.5, 0.5])}
    ]
    with caplog.at_level(logging.WARNING):
        assert read_voxel_size(tmp_path / "img.ome.zarr", "0") == ((3.0, 0.2, 0.2), "OME-Zarr scale")
        assert read_voxel_size(tmp_path / "img.ome.zarr", "1") == ((3.0, 0.4, 0.4), "OME-Zarr scale")
    assert not caplog.records
    assert volume_shape(tmp_path / "img.ome.zarr", "1") == (4, 8, 8)


def test_ome_zarr_05_under_ome_in_a_nested_group(tmp_path):
    """NGFF 0.5 (zarr v3): ``attrs["ome"]["multiscales"]`` on the group holding the levels, time axis dropped; the
    key names the array from the store's root."""
    root = zarr.open_group(str(tmp_path / "img.zarr"), mode="w")
    group = root.create_group("cells")
    group.create_array("0", shape=(1, 6, 10, 12), dtype="float32")
    group.attrs["ome"] = {"version": "0.5", "multiscales": [_multiscale("tzyx", [[60.0, 1.25, 0.5, 0.5]])]}
    assert read_voxel_size(tmp_path / "img.zarr", "cells/0") == ((1.25, 0.5, 0.5), "OME-Zarr scale")
    # attributes take precedence over OME metadata
    group["0"].attrs["element_size_um"] = [1.0, 1.0, 1.0]
    assert read_voxel_size(tmp_path / "img.zarr", "cells/0") == ((1.0, 1.0, 1.0), "element_size_um")


def test_a_2d_zarr_takes_the_in_plane_scale(tmp_path):
    group = _pyramid(tmp_path / "slice.zarr", [(10, 12)])
    group.attrs["ome"] = {"version": "0.5", "multiscales": [_multiscale("yx", [[0.3, 0.6]])]}
    assert read_voxel_size(tmp_path / "slice.zarr", "0") == ((0.3, 0.6), "OME-Zarr scale")


def test_zarr_without_metadata_takes_the_given_voxel_size_or_none(tmp_path):
    _pyramid(tmp_path / "plain.zarr", [(4, 6, 8)])
    assert read_voxel_size(tmp_path / "plain.zarr", "0") == (None, "unknown")
    assert read_voxel_size(tmp_path / "plain.zarr", "0", given=2) == ((2.0, 2.0, 2.0), "--voxel_size")
    # a multiscale that lists other datasets says nothing about this one
    group = zarr.open_group(str(tmp_path / "plain.zarr"), mode="r+")
    group.attrs["multiscales"] = [_multiscale("zyx", [[1.0, 1.0, 1.0]]) | {"datasets": [{"path": "s9"}]}]
    assert read_voxel_size(tmp_path / "plain.zarr", "0") == (None, "unknown")
    with pytest.raises(KeyError, match="has no array 'raw'; it holds \\['0'\\]"):
        read_voxel_size(tmp_path / "plain.zarr", "raw")


@pytest.mark.parametrize(
    "multiscale, reason",
    [
        (_multiscale("czyx", [[2.0, 0.5, 0.5]]), "has 3 values for 4 axes"),
        (_multiscale("czyx", [[1, 2.0, 0.5, 0.5]], [1, 1]), "has 2 values for 4 axes"),
        (_multiscale("zyx", [[1, 2.0, 0.5, 0.5]]), "do not name the array's 4 axes"),
        (_multiscale("czyx", [[1, 2.0, -0.5, 0.5]]), "is not positive"),
        (_multiscale("czyx", [[1, "2", 0.5, 0.5]]), "is not a list of numbers"),
        (_multiscale("ctyx", [[1, 1, 0.5, 0.5]]), "2 space axes for the array's 3 spatial axes"),
        (_multiscale("czyx", [[1, 2.0, 0.5, 0.5]]) | {"datasets": [{"path": "0"}]}, "no coordinateTransformations"),
    ],
)
def test_malformed_ome_metadata_is_ignored_with_one_warning(tmp_path, caplog, multiscale, reason):
    group = _pyramid(tmp_path / "bad.zarr", [(2, 4, 6, 8)])
    group.attrs["multiscales"] = [multiscale]
    with caplog.at_level(logging.WARNING):
        assert read_voxel_size(tmp_path / "bad.zarr", "0", given=[1, 1, 1]) == ((1.0, 1.0, 1.0), "--voxel_size")
    (record,) = caplog.records
    assert record.getMessage().startswith(f"The OME-Zarr metadata of zarr store '{tmp_path / 'bad.zarr'}' array '0'")
    assert reason in record.getMessage()


def test_a_non_numeric_attribute_is_ignored_in_hdf5_and_zarr(tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["raw"] = np.zeros((2, 3, 4), np.float32)
        f["raw"].attrs["element_size_um"] = "0.5 um"
        f.attrs["resolution"] = [1.0, 2.0, 2.0]
    assert read_voxel_size(tmp_path / "a.h5") == ((1.0, 2.0, 2.0), "resolution")
    group = zarr.open_group(str(tmp_path / "a.zarr"), mode="w")
    group.create_array("raw", shape=(2, 3, 4), dtype="float32").attrs["element_size_um"] = {"z": 1}
    assert read_voxel_size(tmp_path / "a.zarr") == (None, "unknown")


def test_ome_zarr_units_become_micrometres(tmp_path, caplog):
    """Space axes in nanometres and millimetres are converted to micrometres (element_size_um's unit); an axis
    without a unit keeps its value; an unknown unit makes the metadata ignored with one warning."""
    group = _pyramid(tmp_path / "nm.zarr", [(4, 6, 8)])
    entry = _multiscale("zyx", [[500.0, 250.0, 0.002]])
    entry["axes"][0]["unit"] = "nanometer"
    entry["axes"][1]["unit"] = "nanometer"
    entry["axes"][2]["unit"] = "millimeter"
    group.attrs["multiscales"] = [entry]
    assert read_voxel_size(tmp_path / "nm.zarr", "0") == ((0.5, 0.25, 2.0), "OME-Zarr scale")
    del entry["axes"][2]["unit"]
    group.attrs["multiscales"] = [entry]
    assert read_voxel_size(tmp_path / "nm.zarr", "0") == ((0.5, 0.25, 0.002), "OME-Zarr scale")
    entry["axes"][2]["unit"] = "furlong"
    group.attrs["multiscales"] = [entry]
    with caplog.at_level(logging.WARNING):
        assert read_voxel_size(tmp_path / "nm.zarr", "0", given=[1, 2, 3]) == ((1.0, 2.0, 3.0), "--voxel_size")
    assert len(caplog.records) == 1 and "'furlong'" in caplog.records[0].getMessage()


def test_a_zarr_array_of_the_wrong_rank_is_named_as_a_zarr_array(tmp_path):
    group = zarr.open_group(str(tmp_path / "a.zarr"), mode="w")
    group.create_array("raw", shape=(2, 2, 3, 4, 5), dtype="float32")
    with pytest.raises(ValueError, match=r"zarr store '.*a\.zarr' array 'raw' has shape \(2, 2, 3, 4, 5\) \(rank 5\)"):
        volume_shape(tmp_path / "a.zarr", "raw")
