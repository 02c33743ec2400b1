"""Volumes through the prediction chain on disk: block-wise prediction of files, resumed, rescaled, HDF5 or zarr."""

import h5py
import numpy as np
import pytest
from monai.inferers import SlidingWindowInferer
from scipy import ndimage

from tests.inference._networks import TinyNet
from tests.inference._tasks import interrupt_after
from unet3d_monai.inference import VolumePredictor, predict


def _inputs(folder, count):
    folder.mkdir()
    volumes = []
    for i in range(count):
        raw = np.random.RandomState(i).randn(10, 14, 12).astype(np.float32)
        with h5py.File(folder / f"v{i}.h5", "w") as f:
            f["raw"] = raw
        volumes.append(raw)
    return volumes


def _predictor(net, output_dir, **options):
    inferer = SlidingWindowInferer((8, 8, 8), overlap=0.25, mode="gaussian")
    return VolumePredictor(
        net, inferer, output_dir, normalization="none", device="cpu", progress=False, blockwise=True, **options
    )


def test_resume_skips_inputs_whose_outputs_are_complete_and_parts_split_a_folder(tmp_path):
    volumes = _inputs(tmp_path / "in", 3)
    net = TinyNet(seed=5)
    out = tmp_path / "out"
    # machine 2 of 2 takes v1 only
    assert [p.name for p in _predictor(net, out, part="2/2").run(tmp_path / "in")] == ["v1_predictions.h5"]
    before = (out / "v1_predictions.h5").stat().st_mtime_ns
    # machine 1 of 2 later resumes the whole folder: v1 is complete and skipped, v0 and v2 predicted
    written = _predictor(net, out, resume=True).run(tmp_path / "in")
    assert sorted(p.name for p in written) == ["v0_predictions.h5", "v1_predictions.h5", "v2_predictions.h5"]
    assert (out / "v1_predictions.h5").stat().st_mtime_ns == before
    for i, raw in enumerate(volumes):
        with h5py.File(out / f"v{i}_predictions.h5", "r") as f:
            np.testing.assert_allclose(f["predictions"][()], predict(net, raw, (8, 8, 8), device="cpu"), atol=1e-5)
    # without resume an existing output is still refused
    with pytest.raises(FileExistsError, match="already exists"):
        _predictor(net, out).run(tmp_path / "in")


def test_zarr_input_is_predicted_blockwise_in_this_process_into_zarr(tmp_path):
    zarr = pytest.importorskip("zarr", reason="needs the optional extra 'distributed' (zarr)")
    raw = np.random.RandomState(3).randn(2, 13, 17, 11).astype(np.float32)
    group = zarr.open_group(str(tmp_path / "two.zarr"), mode="w")
    group.create_array("raw", shape=raw.shape, chunks=(1, 5, 5, 5), dtype="float32")[...] = raw
    net = TinyNet(in_channels=2, out_channels=3, activation="softmax", seed=6)
    predictor = _predictor(net, tmp_path / "out", block_shape=(5, 6, 7), output_dtype="uint8")
    (out,) = predictor.run(tmp_path / "two.zarr")
    assert out.name == "two_predictions.zarr"
    stored = zarr.open_array(str(out), path="predictions", mode="r")
    expected = predict(net, raw, (8, 8, 8), device="cpu")
    assert stored.dtype == np.uint8 and stored.attrs["scale"] == pytest.approx(1 / 255)
    np.testing.assert_array_equal(stored[...], np.rint(expected * 255).astype(np.uint8))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["two_predictions.zarr"]


def test_hdf5_input_with_zarr_output_format(tmp_path):
    zarr = pytest.importorskip("zarr", reason="needs the optional extra 'distributed' (zarr)")
    (raw,) = _inputs(tmp_path / "in", 1)
    net = TinyNet(seed=7)
    (out,) = _predictor(net, tmp_path / "out", output_format="zarr", block_shape=(4, 8, 8)).run(tmp_path / "in")
    assert out.name == "v0_predictions.zarr"
    stored = zarr.open_array(str(out), path="predictions", mode="r")
    assert stored.chunks == (1, 4, 8, 8)
    np.testing.assert_allclose(stored[...], predict(net, raw, (8, 8, 8), device="cpu"), atol=1e-5)
    with pytest.raises(ValueError, match="--output_format 'n5' must be"):
        _predictor(net, tmp_path / "out", output_format="n5")


def _anisotropic(path, element_size_um=(2.0, 0.6, 0.6)):
    """A smooth 12 x 30 x 26 volume with voxels 2 um long in z and 0.6 um in y/x."""
    raw = ndimage.gaussian_filter(np.random.RandomState(7).randn(12, 30, 26), 1.5) * 100 + 400
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("raw", data=raw.astype(np.float32), chunks=(4, 8, 8))
        f["raw"].attrs["element_size_um"] = list(element_size_um)
    return path


def _rescaling(net, output_dir, **options):
    inferer = SlidingWindowInferer((8, 8, 8), overlap=0.5, mode="gaussian")
    settings = {"device": "cpu", "progress": False, "voxel_size": [1.0, 1.0, 1.0], **options}
    return VolumePredictor(net, inferer, output_dir, normalization="standardize", **settings)


@pytest.mark.parametrize(
    "element_size_um, block_shape",
    [((2.0, 0.6, 0.6), (7, 9, 11)), ((2.0, 0.6, 0.6), None), ((0.7, 1.3, 1.0), (5, 6, 40))],
)
def test_blockwise_prediction_rescales_like_in_memory(tmp_path, element_size_um, block_shape):
    """On the model's grid (z grown 2 times, y/x shrunk to 0.6) in several blocks, written on the input's grid: the
    in-memory chain's predictions and segmentation, to float rounding."""
    path = _anisotropic(tmp_path / "a.h5", element_size_um)
    net = TinyNet(out_channels=2, activation="softmax", seed=2)
    seen = []
    net.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape[2:])))
    memory = _rescaling(net, tmp_path / "memory", save_segmentation=True, segmentation_mode="argmax").run(path)[0]
    in_memory_windows = len(seen)
    blocks = _rescaling(
        net, tmp_path / "blocks", blockwise=True, block_shape=block_shape, save_segmentation=True,
        segmentation_mode="argmax",
    ).run(path)[0]  # fmt: skip
    # the same windows on the model's grid: the network saw as many, of the window's size
    assert len(seen) == 2 * in_memory_windows and set(seen) == {(8, 8, 8)}
    with h5py.File(memory, "r") as a, h5py.File(blocks, "r") as b:
        assert b["predictions"].shape == a["predictions"].shape == (2, 12, 30, 26)
        difference = np.abs(b["predictions"][()] - a["predictions"][()])
        assert difference.max() < 1e-5 and difference.mean() < 1e-6
        np.testing.assert_array_equal(b["segmentation"][()], a["segmentation"][()])
    assert sorted(p.name for p in (tmp_path / "blocks").iterdir()) == ["a_predictions.h5"]


def test_rescaled_zarr_output_is_chunked_on_the_inputs_grid(tmp_path):
    zarr = pytest.importorskip("zarr", reason="needs the optional extra 'distributed' (zarr)")
    path = _anisotropic(tmp_path / "a.h5")
    net = TinyNet(seed=4)
    memory = _rescaling(net, tmp_path / "memory").run(path)[0]
    (out,) = _rescaling(net, tmp_path / "blocks", output_format="zarr", block_shape=(8, 8, 8)).run(path)
    stored = zarr.open_array(str(out), path="predictions", mode="r")
    # the model grid is (24, 18, 16): a block of 8 model voxels covers 8 * input / model voxels of the input,
    # rounded up: 4 in z (12/24), 14 in y (30/18), 13 in x (26/16)
    assert stored.shape == (1, 12, 30, 26) and stored.chunks == (1, 4, 14, 13)
    with h5py.File(memory, "r") as f:
        np.testing.assert_allclose(stored[...], f["predictions"][()], rtol=0, atol=1e-5)


def _as_zarr(h5_path, zarr_path, metadata):
    """The volume of ``h5_path`` written to ``zarr_path``: with the attribute ``element_size_um`` (``"attribute"``),
    as OME-Zarr 0.4 (zarr v2, ``c, z, y, x`` with a dataset and a multiscale scale) or 0.5 (zarr v3, ``ome``)."""
    zarr = pytest.importorskip("zarr", reason="needs the optional extra 'distributed' (zarr)")
    with h5py.File(h5_path, "r") as f:
        raw, element_size_um = f["raw"][()], [float(v) for v in f["raw"].attrs["element_size_um"]]
    if metadata == "attribute":
        group = zarr.open_group(str(zarr_path), mode="w")
        group.create_array("raw", shape=raw.shape, chunks=(5, 8, 8), dtype="float32")[...] = raw
        group["raw"].attrs["element_size_um"] = element_size_um
        return "raw"
    group = zarr.open_group(str(zarr_path), mode="w", zarr_format=2 if metadata == "ome-0.4" else 3)
    group.create_array("0", shape=(1, *raw.shape), chunks=(1, 5, 8, 8), dtype="float32")[...] = raw[None]
    axes = [{"name": "c", "type": "channel"}] + [{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]
    multiscale = {
        "axes": axes,
        "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, *element_size_um]}]}],
    }
    if metadata == "ome-0.4":
        # the dataset's scale times the multiscale's
        halved = [1, element_size_um[0] / 2, element_size_um[1], element_size_um[2] * 4]
        multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] = halved
        multiscale["coordinateTransformations"] = [{"type": "scale", "scale": [1, 2, 1, 0.25]}]
        group.attrs["multiscales"] = [{"version": "0.4", **multiscale}]
    else:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale]}
    return "0"


@pytest.mark.parametrize("metadata", ["attribute", "ome-0.4", "ome-0.5"])
def test_a_zarr_input_of_another_voxel_size_is_rescaled_like_hdf5(tmp_path, metadata):
    """The same stack of 2 x 0.6 x 0.6 um voxels as HDF5 (``element_size_um``) and as zarr: both predicted on the
    model's 1 um grid in blocks and written on their own grid, the zarr one into ``<stem>_predictions.zarr``."""
    zarr = pytest.importorskip("zarr", reason="needs the optional extra 'distributed' (zarr)")
    h5_path = _anisotropic(tmp_path / "a.h5")
    raw_key = _as_zarr(h5_path, tmp_path / "a.zarr", metadata)
    net = TinyNet(out_channels=2, activation="softmax", seed=9)
    seen = []
    net.register_forward_hook(lambda module, args, out: seen.append(1))
    options = {"blockwise": True, "block_shape": (7, 9, 11)}
    hdf5 = _rescaling(net, tmp_path / "h5", **options).run(h5_path)[0]
    windows = len(seen)
    (out,) = _rescaling(net, tmp_path / "zarr", raw_key=raw_key, **options).run(tmp_path / "a.zarr")
    # the same windows on the model's grid (24 x 18 x 16), predictions on the input's grid
    assert len(seen) == 2 * windows
    assert out == tmp_path / "zarr" / "a_predictions.zarr"
    stored = zarr.open_array(str(out), path="predictions", mode="r")
    with h5py.File(hdf5, "r") as f:
        assert stored.shape == f["predictions"].shape == (2, 12, 30, 26)
        np.testing.assert_allclose(stored[...], f["predictions"][()], rtol=0, atol=1e-6)
    # unrescaled, the prediction differs: the rescaling did something
    plain = _rescaling(net, tmp_path / "plain", raw_key=raw_key, rescale=False, **options).run(tmp_path / "a.zarr")[0]
    assert np.abs(zarr.open_array(str(plain), path="predictions", mode="r")[...] - stored[...]).max() > 1e-2


def test_an_interrupted_rescaled_prediction_resumes(tmp_path):
    path = _anisotropic(tmp_path / "a.h5")
    net = TinyNet(seed=3)
    windows = []
    net.register_forward_hook(lambda module, args, out: windows.append(1))
    expected = _rescaling(net, tmp_path / "memory").run(path)[0]
    total = len(windows)
    predictor = _rescaling(net, tmp_path / "out", blockwise=True, block_shape=(7, 9, 11))
    interrupt_after(predictor, 20)
    with pytest.raises(KeyboardInterrupt):
        predictor.run(path)
    assert not (tmp_path / "out" / "a_predictions.h5").exists()
    windows.clear()
    (out,) = _rescaling(net, tmp_path / "out", blockwise=True, block_shape=(7, 9, 11), resume=True).run(path)
    # the windows of the blocks finished before the interruption are not predicted again
    assert total - 20 <= len(windows) < total
    with h5py.File(out, "r") as a, h5py.File(expected, "r") as b:
        np.testing.assert_allclose(a["predictions"][()], b["predictions"][()], rtol=0, atol=1e-5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_predictions.h5"]


def test_2d_network_rescales_within_the_slices_blockwise(tmp_path):
    image = ndimage.gaussian_filter(np.random.RandomState(3).rand(1, 20, 24), 1.0).astype(np.float32)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["raw"] = image
        f["raw"].attrs["element_size_um"] = [1.0, 0.5, 0.8]
    net = TinyNet(spatial_dims=2, seed=1)
    # model grid 10 x 19: windows of 8 x 8, in blocks of 4 x 5
    inferer = SlidingWindowInferer((1, 8, 8), overlap=0.5, mode="gaussian")
    options = {"device": "cpu", "progress": False, "voxel_size": [1.0, 1.0, 1.0]}
    memory = VolumePredictor(net, inferer, tmp_path / "memory", **options).run(tmp_path / "a.h5")[0]
    blocks = VolumePredictor(net, inferer, tmp_path / "blocks", blockwise=True, block_shape=(1, 4, 5), **options)
    with h5py.File(memory, "r") as a, h5py.File(blocks.run(tmp_path / "a.h5")[0], "r") as b:
        assert b["predictions"].shape == a["predictions"].shape == (1, 1, 20, 24)
        np.testing.assert_allclose(b["predictions"][()], a["predictions"][()], rtol=0, atol=1e-5)


def test_instance_segmentation_in_the_inputs_voxel_size_blockwise_as_in_memory(tmp_path):
    """A network that returns its input predicts a foreground map of two flat touching nuclei (voxels 2 x 0.5 x 0.5
    um): in memory and block-wise, the segmentation is that of the map in the file's voxel size."""
    from tests.inference._networks import CopyNet
    from tests.inference.test_segmentd import _flat_nuclei_file
    from unet3d_monai.inference import Segmenter

    path = tmp_path / "in" / "nuclei.h5"
    path.parent.mkdir()
    _flat_nuclei_file(path)
    options = {"save_segmentation": True, "segmentation_mode": "foreground_watershed", "min_distance": 5}
    inferer = SlidingWindowInferer((8, 8, 8), overlap=0.25, mode="gaussian")
    settings = {"normalization": "none", "device": "cpu", "progress": False, **options}
    memory = VolumePredictor(CopyNet(), inferer, tmp_path / "memory", **settings).run(path)[0]
    blocks = VolumePredictor(
        CopyNet(), inferer, tmp_path / "blocks", blockwise=True, block_shape=(6, 16, 20), **settings
    ).run(path)[0]
    with h5py.File(memory, "r") as a, h5py.File(blocks, "r") as b:
        predictions = a["predictions"][()]
        np.testing.assert_allclose(b["predictions"][()], predictions, atol=1e-6)
        in_memory, blockwise = a["segmentation"][()], b["segmentation"][()]
    segmenter = Segmenter("foreground_watershed", min_distance=5)
    expected = segmenter(predictions, sampling=(2.0, 0.5, 0.5))
    np.testing.assert_array_equal(in_memory, expected)
    np.testing.assert_array_equal(blockwise, expected)
    assert expected.max() == 2 and segmenter(predictions).max() == 6
