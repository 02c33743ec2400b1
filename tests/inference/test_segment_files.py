"""``unet3d-monai segment``: objects from a probability map made elsewhere, in memory or block-wise, HDF5 or zarr."""

import re

import h5py
import numpy as np
import pytest
from skimage.metrics import adapted_rand_error

from tests.segmentation.test_blockwise import _nuclei
from unet3d_monai.compat.cli import main
from unet3d_monai.inference.segment_files import segment_file
from unet3d_monai.segmentation import Segmenter


@pytest.fixture
def probabilities(tmp_path):
    truth, foreground = _nuclei()
    path = tmp_path / "pred.h5"
    with h5py.File(path, "w") as f:
        f["predictions"] = (foreground * 255).round().astype(np.uint8)
        f["predictions"].attrs["scale"] = 1 / 255
    return path, truth, foreground


def _labels(path):
    if path.suffix == ".zarr":
        import zarr

        return zarr.open_array(str(path), path="segmentation", mode="r")[...]
    with h5py.File(path, "r") as f:
        return f["segmentation"][()]


def test_in_memory_and_blockwise_give_the_same_objects(probabilities, tmp_path):
    path, truth, foreground = probabilities
    stored = np.round(foreground * 255).astype(np.uint8) / np.float32(255)
    expected = Segmenter("foreground_watershed", min_distance=3)(stored.astype(np.float32))
    whole = segment_file(path, tmp_path / "whole.h5", "foreground_watershed", min_distance=3, progress=False)
    np.testing.assert_array_equal(_labels(whole), expected)
    assert main(
        ["segment", "--input", str(path), "--output", str(tmp_path / "blocks.h5"), "--mode", "foreground_watershed",
         "--min_distance", "3", "--object_size", "12", "--block_shape", "32", "48", "48", "--progress", "false"]
    ) == 0  # fmt: skip
    error, _, _ = adapted_rand_error(expected.astype(np.int64), _labels(tmp_path / "blocks.h5").astype(np.int64))
    assert error <= 0.01
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocks.h5", "pred.h5", "whole.h5"]


def test_a_zarr_output_on_a_dask_cluster(probabilities, tmp_path):
    pytest.importorskip("distributed", reason="needs the optional extra 'distributed' (dask, zarr)")
    path, _, _ = probabilities
    here = segment_file(path, tmp_path / "here.zarr", "foreground_components", block_shape=(24, 48, 48), object_size=12)
    dask = segment_file(
        path, tmp_path / "dask.zarr", "foreground_components", block_shape=(24, 48, 48), object_size=12,
        scheduler="local:1",
    )  # fmt: skip
    np.testing.assert_array_equal(_labels(here), _labels(dask))
    assert len(np.unique(_labels(here))) > 10


@pytest.mark.parametrize(
    "options, message",
    [
        (["--dataset", "probabilities"], r"dataset 'probabilities' is missing; datasets present: 'predictions'"),
        (["--block_shape", "8", "48", "48", "--object_size", "12"], r"--block_shape \[8, 48, 48\] must be at least"),
        (["--output", "OUT.txt"], r"--output '.*OUT.txt' must be an HDF5 file \(.h5\) or a zarr store"),
    ],
)
def test_bad_input_is_one_sentence_and_writes_nothing(probabilities, tmp_path, capsys, options, message):
    path, _, _ = probabilities
    output = ["--output", str(tmp_path / "out.h5")]
    if "--output" in options:
        output = ["--output", str(tmp_path / options[options.index("--output") + 1])]
        options = [o for o in options if o not in ("--output", "OUT.txt")]
    code = main(["segment", "--input", str(path), *output, "--mode", "foreground_watershed", *options])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert re.search(message, err.splitlines()[0]), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.h5"]


def test_an_existing_output_is_refused(probabilities, tmp_path, capsys):
    path, _, _ = probabilities
    (tmp_path / "out.h5").write_bytes(b"mine")
    assert main(["segment", "--input", str(path), "--output", str(tmp_path / "out.h5"), "--mode", "threshold"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "out.h5").read_bytes() == b"mine"
