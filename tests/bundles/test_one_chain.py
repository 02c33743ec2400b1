"""One prediction chain for every volume: an override of a step of ``inference.json`` acts the same way on a volume
predicted in memory, block-wise in this process, and block-wise on a Dask cluster."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.bundle import run as run_bundle
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "bundles" / "boundary" / "inference.json"
NETWORK = {"network_def#f_maps": 4, "network_def#num_groups": 2}
# the segmentation step of the chain (postprocessing: ToInputGridd, Segmentd, WritePredictionsd, WritePreviewd)
SEGMENT = "postprocessing#transforms#1"
# background + segments of the default settings (threshold 0.5, min_size 0), and with the override
PLAIN_AND_OVERRIDDEN_SEGMENTS = (13, 23)
WAYS = {
    "in_memory": {},
    "blockwise": {"blockwise": True, "block_shape": [9, 15, 14]},
    "dask": {"scheduler": "local:1", "block_shape": [9, 15, 14]},
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A membrane-like volume (bright walls between cells) and a random boundary network."""
    folder = tmp_path_factory.mktemp("chain")
    rng = np.random.RandomState(3)
    seeds = np.zeros((18, 30, 28), dtype=np.int32)
    points = rng.randint(0, [18, 30, 28], size=(12, 3))
    seeds[tuple(points.T)] = np.arange(1, 13)
    _, nearest = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    cells = seeds[tuple(nearest)]
    walls = ndimage.morphological_gradient(cells, size=3) > 0
    raw = (walls * 800 + rng.rand(*cells.shape) * 200).astype(np.uint16)
    with h5py.File(folder / "cells.h5", "w") as f:
        f["raw"] = raw
    parser = ConfigParser()
    parser.read_config(str(CONFIG))
    parser.update(NETWORK)
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), folder / "model.pt")
    return folder


def _predict(inputs, output_dir, **options):
    run_bundle(
        config_file=str(CONFIG),
        input=str(inputs / "cells.h5"),
        ckpt_path=str(inputs / "model.pt"),
        output_dir=str(output_dir),
        roi_size=[16, 24, 24],
        device="cpu",
        progress=False,
        cpu_bf16=False,
        save_segmentation=True,
        **NETWORK,
        **options,
    )
    with h5py.File(output_dir / "cells_predictions.h5", "r") as f:
        return f["predictions"][()], f["segmentation"][()]


def test_a_segmentation_override_acts_on_every_volume_the_same_way(inputs, tmp_path):
    pytest.importorskip("distributed", reason="needs the optional extra 'distributed' (dask) for the Dask run")
    plain_probabilities, plain = _predict(inputs, tmp_path / "plain")
    overrides = {f"{SEGMENT}#min_size": 40, f"{SEGMENT}#threshold": 0.45}
    results = {way: _predict(inputs, tmp_path / way, **options, **overrides) for way, options in WAYS.items()}
    probabilities, labels = results["in_memory"]
    np.testing.assert_allclose(probabilities, plain_probabilities, rtol=0, atol=0)
    # the override changes the segmentation ...
    assert (len(np.unique(plain)), len(np.unique(labels))) == PLAIN_AND_OVERRIDDEN_SEGMENTS
    # ... and the same way whether the volume is predicted in memory, block-wise or on Dask
    for way in ("blockwise", "dask"):
        np.testing.assert_allclose(results[way][0], probabilities, rtol=0, atol=1e-5, err_msg=way)
        np.testing.assert_array_equal(results[way][1], labels, err_msg=way)
    # the block-wise work folders are gone once the outputs are written
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == ["cells_predictions.h5"]


def _membranes(path, shape, cells, seed):
    rng = np.random.RandomState(seed)
    seeds = np.zeros(shape, dtype=np.int32)
    seeds[tuple(rng.randint(0, shape, size=(cells, 3)).T)] = np.arange(1, cells + 1)
    _, nearest = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    walls = ndimage.morphological_gradient(seeds[tuple(nearest)], size=3) > 0
    with h5py.File(path, "w") as f:
        f["raw"] = (walls * 800 + rng.rand(*shape) * 200).astype(np.uint16)


def test_instance_segmentation_of_a_volume_on_disk_is_the_in_memory_one(inputs, tmp_path):
    """--save_segmentation with an instance mode on a block-wise volume: segmented block by block with a halo and
    stitched (HDF5 in this process, zarr on Dask), the in-memory objects to an adapted Rand error of 0.01."""
    pytest.importorskip("distributed", reason="needs the optional extra 'distributed' (dask, zarr)")
    import zarr
    from skimage.metrics import adapted_rand_error

    _membranes(tmp_path / "cells.h5", (24, 64, 64), 30, seed=5)
    common = {"object_size": 10, "block_shape": [12, 32, 32]}
    run = dict(input=str(tmp_path / "cells.h5"), ckpt_path=str(inputs / "model.pt"), roi_size=[16, 24, 24])
    run.update(device="cpu", progress=False, cpu_bf16=False, save_segmentation=True, **NETWORK)
    run_bundle(config_file=str(CONFIG), output_dir=str(tmp_path / "memory"), **run)
    run_bundle(config_file=str(CONFIG), output_dir=str(tmp_path / "blocks"), blockwise=True, **common, **run)
    run_bundle(
        config_file=str(CONFIG), output_dir=str(tmp_path / "dask"), scheduler="local:1", output_format="zarr",
        **common, **run,
    )  # fmt: skip
    with h5py.File(tmp_path / "memory" / "cells_predictions.h5", "r") as f:
        memory = f["segmentation"][()].astype(np.int64)
    with h5py.File(tmp_path / "blocks" / "cells_predictions.h5", "r") as f:
        blocks = f["segmentation"][()].astype(np.int64)
    dask = zarr.open_array(str(tmp_path / "dask" / "cells_predictions.zarr"), path="segmentation", mode="r")[...]
    assert len(np.unique(memory)) > 10
    for labels in (blocks, dask.astype(np.int64)):
        error, _, _ = adapted_rand_error(memory, labels)
        assert error <= 0.01, error
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == ["cells_predictions.zarr"]
