import hashlib
import logging

import h5py
import nibabel as nib
import numpy as np
import pytest

from tests.inference._networks import TinyNet
from tests.inference._tasks import interrupt_after
from unet3d_monai.inference import VolumePredictor, predict, predict_file
from unet3d_monai.io.writers import check_output_path


def _write_h5(path, data, key="raw"):
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data, chunks=True)
    return path


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _standardized(raw):
    raw = raw.astype(np.float64)
    return ((raw - raw.mean()) / raw.std()).astype(np.float32)


@pytest.fixture
def raw():
    return (np.random.RandomState(0).rand(13, 22, 19) * 200 + 50).astype(np.uint16)


def test_predict_file_writes_standardized_predictions(raw, tmp_path):
    path = _write_h5(tmp_path / "cells.h5", raw)
    net = TinyNet(out_channels=2)
    out = predict_file(net, path, tmp_path / "out", roi_size=(8, 12, 10), overlap=0.5, device="cpu")
    assert out == tmp_path / "out" / "cells_predictions.h5"
    expected = predict(net, _standardized(raw)[None], (8, 12, 10), overlap=0.5, device="cpu")
    with h5py.File(out, "r") as f:
        assert f["predictions"].dtype == np.float32 and f["predictions"].shape == (2, 13, 22, 19)
        np.testing.assert_allclose(f["predictions"][()], expected, atol=1e-5)
        assert "segmentation" not in f
    assert not list((tmp_path / "out").glob("*.part"))


def test_blockwise_file_prediction_equals_in_memory(raw, tmp_path):
    path = _write_h5(tmp_path / "cells.h5", raw)
    net = TinyNet()
    memory = predict_file(
        net, path, tmp_path / "a", roi_size=(8, 12, 10), overlap=0.25, device="cpu", save_segmentation=True
    )
    blocks = predict_file(
        net,
        path,
        tmp_path / "b",
        roi_size=(8, 12, 10),
        overlap=0.25,
        device="cpu",
        blockwise=True,
        block_shape=(5, 9, 7),
        save_segmentation=True,
    )
    with h5py.File(memory, "r") as a, h5py.File(blocks, "r") as b:
        np.testing.assert_allclose(b["predictions"][()], a["predictions"][()], atol=1e-5)
        np.testing.assert_array_equal(b["segmentation"][()], a["segmentation"][()])
        np.testing.assert_array_equal(a["segmentation"][()], (a["predictions"][0] > 0.5).astype(np.uint32))
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["cells_predictions.h5"]


def test_blockwise_is_chosen_when_the_volume_exceeds_the_memory_budget(raw, tmp_path, caplog):
    from monai.inferers import SlidingWindowInferer

    path = _write_h5(tmp_path / "cells.h5", raw)
    inferer = SlidingWindowInferer((8, 12, 10), overlap=0.25, mode="gaussian")
    predictor = VolumePredictor(
        TinyNet(), inferer, tmp_path / "out", device="cpu", memory_fraction=1e-9, progress=False
    )
    with caplog.at_level(logging.INFO, logger="unet3d_monai.inference"):
        (out,) = predictor.run(path)
    assert "block-wise" in caplog.text
    expected = predict(TinyNet(), _standardized(raw), (8, 12, 10), device="cpu")
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f["predictions"][()], expected, atol=1e-5)


def test_input_is_never_modified_and_outputs_are_not_overwritten(raw, tmp_path):
    path = _write_h5(tmp_path / "cells.h5", raw)
    before, mtime = _sha256(path), path.stat().st_mtime_ns
    kwargs = dict(roi_size=(8, 12, 10), device="cpu")
    out = predict_file(TinyNet(), path, tmp_path / "out", **kwargs)
    first = _sha256(out)
    with pytest.raises(FileExistsError, match="already exists"):
        predict_file(TinyNet(seed=1), path, tmp_path / "out", **kwargs)
    assert _sha256(out) == first
    predict_file(TinyNet(seed=1), path, tmp_path / "out", overwrite=True, blockwise=True, **kwargs)
    assert _sha256(out) != first
    assert _sha256(path) == before and path.stat().st_mtime_ns == mtime


def test_output_equal_to_input_is_refused(tmp_path):
    path = _write_h5(tmp_path / "a.h5", np.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match="is the input file"):
        check_output_path(tmp_path / "." / "a.h5", path, overwrite=True)


def test_channel_mismatch_names_file_and_expected_channels(tmp_path):
    path = _write_h5(tmp_path / "two.h5", np.zeros((2, 6, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"two.h5.*\(2, 6, 8, 8\).*expects 1 input channels"):
        predict_file(TinyNet(), path, tmp_path / "out", roi_size=(6, 8, 8), device="cpu")
    assert not (tmp_path / "out" / "two_predictions.h5").exists()


def test_missing_and_empty_inputs_are_clear_errors(tmp_path):
    from monai.inferers import SlidingWindowInferer

    predictor = VolumePredictor(TinyNet(), SlidingWindowInferer((4, 4, 4)), tmp_path / "out", progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        predictor.run(tmp_path / "nothing.h5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="contains no volume files"):
        predictor.run(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="matches no volume files"):
        predictor.run(str(tmp_path / "*.h5"))


def test_folder_and_glob_inputs_predict_every_volume(tmp_path):
    from monai.inferers import SlidingWindowInferer

    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        _write_h5(tmp_path / "in" / f"{name}.h5", np.random.RandomState(1).rand(6, 8, 8).astype(np.float32))
    predictor = VolumePredictor(
        TinyNet(), SlidingWindowInferer((6, 8, 8)), tmp_path / "out", device="cpu", progress=False
    )
    assert [p.name for p in predictor.run(tmp_path / "in")] == ["a_predictions.h5", "b_predictions.h5"]
    predictor.overwrite = True
    assert [p.name for p in predictor.run(str(tmp_path / "in" / "b*.h5"))] == ["b_predictions.h5"]


@pytest.mark.parametrize("dtype, tolerance", [("float16", 1e-3), ("uint8", 0.5 / 255 + 1e-6)])
def test_compact_output_dtypes(raw, tmp_path, dtype, tolerance):
    path = _write_h5(tmp_path / "cells.h5", raw)
    out = predict_file(TinyNet(), path, tmp_path / "out", roi_size=(8, 12, 10), device="cpu", output_dtype=dtype)
    expected = predict(TinyNet(), _standardized(raw), (8, 12, 10), device="cpu")
    with h5py.File(out, "r") as f:
        assert f["predictions"].dtype == np.dtype(dtype)
        values = f["predictions"][()].astype(np.float32)
        if dtype == "uint8":
            values = values * f["predictions"].attrs["scale"]
    np.testing.assert_allclose(values, expected, atol=tolerance)


def test_argmax_segmentation_of_a_multiclass_network(raw, tmp_path):
    path = _write_h5(tmp_path / "cells.h5", raw)
    out = predict_file(
        TinyNet(out_channels=3, activation="softmax"),
        path,
        tmp_path / "out",
        roi_size=(8, 12, 10),
        device="cpu",
        save_segmentation=True,
        segmentation_mode="argmax",
    )
    with h5py.File(out, "r") as f:
        assert f["segmentation"].dtype == np.uint32 and f["segmentation"].shape == (13, 22, 19)
        np.testing.assert_array_equal(f["segmentation"][()], np.argmax(f["predictions"][()], axis=0))
        assert len(np.unique(f["segmentation"][()])) > 1


def test_2d_network_on_a_2d_hdf5_image(tmp_path):
    image = np.random.RandomState(3).rand(1, 20, 24).astype(np.float32)
    path = _write_h5(tmp_path / "nuclei.h5", image)
    net = TinyNet(spatial_dims=2)
    out = predict_file(net, path, tmp_path / "out", roi_size=(1, 16, 16), device="cpu")
    expected = predict(net, _standardized(image[0]), (16, 16), device="cpu")
    with h5py.File(out, "r") as f:
        assert f["predictions"].shape == (1, 1, 20, 24)
        np.testing.assert_allclose(f["predictions"][:, 0], expected, atol=1e-5)


def test_nifti_round_trip_keeps_the_affine(tmp_path):
    data = np.random.RandomState(4).rand(12, 14, 10).astype(np.float32) * 100
    affine = np.array([[0.5, 0, 0, 10.0], [0, 0.7, 0, -4.0], [0, 0, 2.0, 3.0], [0, 0, 0, 1]])
    path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), str(path))
    before = _sha256(path)
    net = TinyNet()
    out = predict_file(net, path, tmp_path / "out", roi_size=(8, 8, 8), device="cpu", save_segmentation=True)
    assert out.name == "ct_predictions.nii.gz"
    written = nib.load(str(out))
    np.testing.assert_allclose(written.affine, affine)
    expected = predict(net, _standardized(data), (8, 8, 8), device="cpu")[0]
    np.testing.assert_allclose(np.asarray(written.dataobj), expected, atol=1e-5)
    segmentation = nib.load(str(tmp_path / "out" / "ct_segmentation.nii.gz"))
    np.testing.assert_array_equal(np.asarray(segmentation.dataobj), (expected > 0.5).astype(np.uint32))
    assert _sha256(path) == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ct_predictions.nii.gz", "ct_segmentation.nii.gz"]


def test_resume_of_an_interrupted_file_prediction(raw, tmp_path):
    from monai.inferers import SlidingWindowInferer

    path = _write_h5(tmp_path / "cells.h5", raw)
    net = TinyNet()
    inferer = SlidingWindowInferer((8, 12, 10), overlap=0.5, mode="gaussian")
    predictor = VolumePredictor(
        net, inferer, tmp_path / "out", device="cpu", blockwise=True, block_shape=(5, 9, 7), progress=False
    )
    interrupt_after(predictor, 15)
    with pytest.raises(KeyboardInterrupt):
        predictor.run(path)
    assert not (tmp_path / "out" / "cells_predictions.h5").exists()
    assert (tmp_path / "out" / "cells_predictions.blocks" / "partials").is_dir()
    resumed = VolumePredictor(
        net,
        inferer,
        tmp_path / "out",
        device="cpu",
        blockwise=True,
        block_shape=(5, 9, 7),
        resume="true",
        progress=False,
    )
    (out,) = resumed.run(path)
    expected = predict(net, _standardized(raw), (8, 12, 10), overlap=0.5, device="cpu")
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f["predictions"][()], expected, atol=1e-5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cells_predictions.h5"]


def test_the_inferer_is_used_as_given(raw, tmp_path):
    """The handed inferer is not rebuilt: its buffering, devices and window are the ones that run."""
    from unet3d_monai.inference import FittedSlidingWindowInferer

    path = _write_h5(tmp_path / "cells.h5", raw)
    inferer = FittedSlidingWindowInferer((8, 12, 10), overlap=0.5, buffer_steps=2, sw_device="cpu", device="cpu")
    calls = []
    original = inferer.__class__.__call__

    def recording(self, inputs, network, *args, **kwargs):
        calls.append((self, self.buffer_steps))
        return original(self, inputs, network, *args, **kwargs)

    inferer.__class__.__call__ = recording
    try:
        predictor = VolumePredictor(TinyNet(), inferer, tmp_path / "out", device="cpu", progress=False)
        assert predictor.inferer is inferer
        (out,) = predictor.run(path)
    finally:
        inferer.__class__.__call__ = original
    assert calls == [(inferer, 2)]
    expected = predict(TinyNet(), _standardized(raw), (8, 12, 10), overlap=0.5, device="cpu")
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f["predictions"][()], expected, atol=1e-5)
