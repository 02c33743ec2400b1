"""Block-wise prediction on a Dask LocalCluster (2 worker processes, 1 thread each), zarr and HDF5."""

import os

import h5py
import numpy as np
import pytest
from monai.inferers import SlidingWindowInferer

from tests.inference._networks import TinyNet
from tests.inference._tasks import CountingPredictor, Interrupted, KillWorkerOnce
from unet3d_monai.inference import BlockwisePrediction, FittedWindowSplitter, VolumeOnDisk, VolumePredictor, predict
from unet3d_monai.inference.distributed import WORKER_ENVIRONMENT, DaskTasks, local_cluster, parse_scheduler
from unet3d_monai.inference.sliding_window import prepare_window_predictor

distributed = pytest.importorskip("distributed", reason="needs the optional extra 'distributed' (dask, zarr)")
zarr = pytest.importorskip("zarr", reason="needs the optional extra 'distributed' (dask, zarr)")

ROI, OVERLAP, BLOCK = (8, 12, 10), 0.5, (7, 9, 11)


@pytest.fixture(scope="module")
def client():
    with local_cluster(2) as cluster, distributed.Client(cluster) as connected:
        yield connected


@pytest.fixture(scope="module")
def raw():
    return np.random.RandomState(0).randn(21, 30, 26).astype(np.float32)


def _predictor(net, tmp_path, **options):
    inferer = SlidingWindowInferer(ROI, overlap=OVERLAP, mode="gaussian")
    options = {"normalization": "none", "block_shape": BLOCK, "progress": False, "device": "cpu", **options}
    return VolumePredictor(net, inferer, tmp_path / "out", **options)


def test_zarr_to_zarr_on_the_cluster_equals_in_memory(client, raw, tmp_path):
    group = zarr.open_group(str(tmp_path / "cells.zarr"), mode="w")
    group.create_array("raw", shape=raw.shape, chunks=(7, 9, 11), dtype="float32")[...] = raw
    net = TinyNet(out_channels=2, activation="softmax", seed=1)
    predictor = _predictor(net, tmp_path, scheduler=client.scheduler.address, save_segmentation=True)
    segmentation_mode = predictor.segmenter.mode.value
    (out,) = predictor.run(tmp_path / "cells.zarr")
    assert out == tmp_path / "out" / "cells_predictions.zarr"
    expected = predict(net, raw, ROI, overlap=OVERLAP, device="cpu")
    written = zarr.open_group(str(out), mode="r")
    assert written["predictions"].chunks == (1, *BLOCK)  # one writer per chunk
    np.testing.assert_allclose(written["predictions"][...], expected, atol=1e-5)
    assert segmentation_mode == "threshold"
    np.testing.assert_array_equal(written["segmentation"][...], (expected > 0.5).astype(np.uint32))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cells_predictions.zarr"]


def test_hdf5_to_hdf5_on_the_cluster_equals_in_memory(client, raw, tmp_path):
    with h5py.File(tmp_path / "cells.h5", "w") as f:
        f.create_dataset("raw", data=raw, chunks=(7, 10, 13))
    net = TinyNet(seed=2)
    (out,) = _predictor(net, tmp_path, scheduler=client.scheduler.address).run(tmp_path / "cells.h5")
    expected = predict(net, raw, ROI, overlap=OVERLAP, device="cpu")
    with h5py.File(out, "r") as f:
        np.testing.assert_allclose(f["predictions"][()], expected, atol=1e-5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cells_predictions.h5"]


def test_an_input_of_another_voxel_size_on_the_cluster_equals_in_memory(client, raw, tmp_path):
    """Tasks read their blocks resampled onto the model's grid; the client writes the zarr output on the input's."""
    with h5py.File(tmp_path / "cells.h5", "w") as f:
        f.create_dataset("raw", data=raw, chunks=(7, 10, 13))
        f["raw"].attrs["element_size_um"] = [1.5, 0.8, 1.0]
    net = TinyNet(seed=8)
    options = {"voxel_size": [1.0, 1.0, 1.0]}
    memory = _predictor(net, tmp_path / "memory", block_shape=None, **options).run(tmp_path / "cells.h5")[0]
    predictor = _predictor(net, tmp_path, scheduler=client.scheduler.address, output_format="zarr", **options)
    (out,) = predictor.run(tmp_path / "cells.h5")
    stored = zarr.open_array(str(out), path="predictions", mode="r")
    with h5py.File(memory, "r") as f:
        assert stored.shape == f["predictions"].shape == (1, 21, 30, 26)
        np.testing.assert_allclose(stored[...], f["predictions"][()], rtol=0, atol=1e-5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cells_predictions.zarr"]


def test_a_zarr_input_of_another_voxel_size_on_the_cluster_equals_hdf5_in_memory(client, raw, tmp_path):
    """An OME-Zarr 0.5 input (axes c, z, y, x) of 1.5 x 0.8 x 1.0 um voxels: tasks read it resampled onto the model's
    grid, the client writes ``<stem>_predictions.zarr`` on the input's grid, equal to the HDF5 input's prediction."""
    with h5py.File(tmp_path / "cells.h5", "w") as f:
        f["raw"] = raw
        f["raw"].attrs["element_size_um"] = [1.5, 0.8, 1.0]
    group = zarr.open_group(str(tmp_path / "cells.zarr"), mode="w")
    group.create_array("0", shape=(1, *raw.shape), chunks=(1, 7, 9, 11), dtype="float32")[...] = raw[None]
    axes = [{"name": "c", "type": "channel"}] + [{"name": n, "type": "space"} for n in "zyx"]
    scale = [{"type": "scale", "scale": [1.0, 1.5, 0.8, 1.0]}]
    multiscale = {"axes": axes, "datasets": [{"path": "0", "coordinateTransformations": scale}]}
    group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale]}
    net = TinyNet(seed=8)
    options = {"voxel_size": [1.0, 1.0, 1.0]}
    memory = _predictor(net, tmp_path / "memory", block_shape=None, **options).run(tmp_path / "cells.h5")[0]
    predictor = _predictor(net, tmp_path, scheduler=client.scheduler.address, raw_key="0", **options)
    (out,) = predictor.run(tmp_path / "cells.zarr")
    assert out == tmp_path / "out" / "cells_predictions.zarr"
    stored = zarr.open_array(str(out), path="predictions", mode="r")
    with h5py.File(memory, "r") as f:
        assert stored.shape == f["predictions"].shape == (1, 21, 30, 26)
        np.testing.assert_allclose(stored[...], f["predictions"][()], rtol=0, atol=1e-5)


def _engine(client, predictor, work, resume=False):
    splitter = FittedWindowSplitter(ROI, OVERLAP)
    runner = DaskTasks(client, torch_threads=1)
    return BlockwisePrediction(predictor, splitter, work, block_shape=BLOCK, resume=resume, runner=runner)


def _source_and_network(raw, folder, seed):
    """``raw`` written to ``folder/cells.h5`` and opened as a block source, a tiny network and its window
    predictor."""
    with h5py.File(folder / "cells.h5", "w") as f:
        f["raw"] = raw
    source = VolumeOnDisk.of_file(folder / "cells.h5", "raw")
    net = TinyNet(seed=seed)
    window_predictor, _ = prepare_window_predictor(net, "cpu")
    return source, net, window_predictor


def _write_zarr_output(path, shape):
    from unet3d_monai.inference.zarr_store import ZarrPredictionWriter

    writer = ZarrPredictionWriter(path, resume=True)
    writer.create(shape, BLOCK)
    return writer, ZarrBlockWriter(writer)


class ZarrBlockWriter:
    """Writes one assembled block to a zarr output from the task that assembled it (picklable: paths only)."""

    def __init__(self, writer):
        self.writer = writer

    def __call__(self, region, predictions):
        self.writer.write_predictions(region, predictions)


def test_a_killed_run_resumes_and_predicts_no_finished_block_again(client, raw, tmp_path):
    source, net, window_predictor = _source_and_network(raw, tmp_path, seed=3)
    work = tmp_path / "work"
    (tmp_path / "first").mkdir()
    first = CountingPredictor(window_predictor, tmp_path / "first", work / "partials", stop_after_blocks=6)
    writer, write_block = _write_zarr_output(tmp_path / "out.zarr", (1, *raw.shape))
    with pytest.raises(Interrupted):
        _engine(client, first, work).run(source, write_block, write_on_workers=True, output_fresh=writer.fresh)
    finished = {p.name for p in (work / "partials").glob("block-*.npy")}
    assert len(finished) >= 6
    (tmp_path / "second").mkdir()
    second = CountingPredictor(window_predictor, tmp_path / "second")
    writer, write_block = _write_zarr_output(tmp_path / "out.zarr", (1, *raw.shape))
    assert not writer.fresh  # the interrupted output is continued
    engine = _engine(client, second, work, resume=True)
    report = engine.run(source, write_block, write_on_workers=True, output_fresh=writer.fresh)
    plan = engine.plan((1, *raw.shape))
    names = {k: "block-" + "-".join(map(str, k)) for k in plan.blocks()}
    # every block an earlier run finished (those listed above, and any still running when it stopped) was found,
    # and none of them was predicted or written again
    assert finished <= {names[k] + ".npy" for k in report.predicted_before}
    assert not set(report.predicted) & set(report.predicted_before)
    assert sorted(report.predicted + report.predicted_before) == sorted(k for k in plan.blocks() if plan.halo(k))
    assert not set(report.assembled) & set(report.assembled_before)
    assert len(report.assembled) + len(report.assembled_before) == report.blocks
    assert second.windows() == sum(plan.windows(k) for k in report.predicted)
    expected = predict(net, raw, ROI, overlap=OVERLAP, device="cpu")
    np.testing.assert_allclose(zarr.open_array(str(writer.commit()), path="predictions")[...], expected, atol=1e-5)


def test_a_worker_killed_mid_block_is_retried_and_the_result_is_equal(client, raw, tmp_path):
    source, net, window_predictor = _source_and_network(raw, tmp_path, seed=4)
    marker = tmp_path / "killed"
    out = np.full((1, *raw.shape), np.nan, np.float32)

    def write(region, block):
        out[(slice(None), *region)] = block

    _engine(client, KillWorkerOnce(window_predictor, marker), tmp_path / "work").run(source, write)
    assert marker.exists()  # a worker died in the middle of a block
    np.testing.assert_allclose(out, predict(net, raw, ROI, overlap=OVERLAP, device="cpu"), atol=1e-5)


def test_the_only_worker_killed_mid_block_loses_no_shared_value(raw, tmp_path):
    """The network every block uses lives on the one worker, which dies; the restarted worker gets it again."""
    source, net, window_predictor = _source_and_network(raw, tmp_path, seed=5)
    marker = tmp_path / "killed"
    out = np.full((1, *raw.shape), np.nan, np.float32)

    def write(region, block):
        out[(slice(None), *region)] = block

    with local_cluster(1) as cluster, distributed.Client(cluster) as one_worker:
        _engine(one_worker, KillWorkerOnce(window_predictor, marker), tmp_path / "work").run(source, write)
    assert marker.exists()
    np.testing.assert_allclose(out, predict(net, raw, ROI, overlap=OVERLAP, device="cpu"), atol=1e-5)


def test_local_workers_start_with_one_malloc_arena(client):
    client.wait_for_workers(2)  # one may be restarting after the test above killed it
    environments = client.run(lambda: {name: os.environ.get(name) for name in WORKER_ENVIRONMENT})
    assert len(environments) == 2
    assert all(environment == WORKER_ENVIRONMENT for environment in environments.values())


def test_scheduler_option_is_checked():
    assert parse_scheduler("local:3") == ("local", 3)
    with pytest.raises(ValueError, match="local:N"):
        parse_scheduler("local:two")
