"""Fixtures of the napari plugin's tests: Qt offscreen (no display needed), a viewer, a tiny trained boundary model
and its training's TensorBoard events, a boundary volume with a voxel size and the command line's prediction of it.

napari draws its canvas with OpenGL: with Xvfb installed (``apt-get install xvfb``), pytest-xvfb starts a virtual
display and the tests use napari's own ``make_napari_viewer``; without OpenGL the widgets are tested on napari's
``ViewerModel`` (the same layer list, no canvas).
"""

import os

# before anything imports Qt: the tests run headless, on CI and on machines without a display
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from monai.bundle import run as run_bundle  # noqa: E402

from tests.bundles._workflow import ROOT, run_training, training_overrides  # noqa: E402
from unet3d_monai.data.sample import write_sample_dataset  # noqa: E402

#: the voxel size of the test volume, (Z, Y, X) micrometres, as the boundary sample records it
VOXEL_SIZE = (0.5, 0.25, 0.25)


_OPENGL_CHECK = """
from qtpy.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext
app = QGuiApplication([])
context, surface = QOpenGLContext(), QOffscreenSurface()
surface.create()
print(bool(context.create() and context.makeCurrent(surface)))
"""


@pytest.fixture(scope="session")
def opengl() -> bool:
    """Whether Qt gets an OpenGL context here (asked in a child process, which a failure cannot bring down)."""
    result = subprocess.run([sys.executable, "-c", _OPENGL_CHECK], capture_output=True, text=True, timeout=60)
    return result.stdout.strip().endswith("True")


@pytest.fixture
def viewer(request, opengl):
    """napari's ``make_napari_viewer()`` when OpenGL works, else a ``ViewerModel`` (no canvas, no window)."""
    if opengl:
        return request.getfixturevalue("make_napari_viewer")()
    from napari.components import ViewerModel

    request.getfixturevalue("qapp")
    return ViewerModel()


@pytest.fixture(scope="session")
def tiny_training(tmp_path_factory) -> Path:
    """One epoch of two iterations of the boundary bundle on a 16x40x40 sample (the bundle's own network, a
    16x32x32 patch): ``<work>/models/model.pt`` with its record, TensorBoard events in ``<work>/output``, the
    sample dataset in ``<work>/data``."""
    work = tmp_path_factory.mktemp("napari_training")
    dataset = write_sample_dataset("boundary", work / "data", shape=(16, 40, 40), n_train=1, n_val=1, n_test=1)
    options = {"epochs": 1, "epoch_length": 2, "val_at_start": False, "patch_size": [16, 32, 32]}
    run_training("boundary", training_overrides(dataset, work, options))
    return work


@pytest.fixture(scope="session")
def cells_volume(tiny_training) -> Path:
    """A training volume of the boundary sample, ``cells.h5`` (the tiny training's test volume): ``raw`` (16, 40, 40)
    float32 with ``element_size_um`` (0.5, 0.25, 0.25) and ``label`` without one."""
    path = tiny_training / "cells" / "cells.h5"
    path.parent.mkdir()
    (source,) = sorted((tiny_training / "data" / "test").glob("*.h5"))
    with h5py.File(source, "r") as f, h5py.File(path, "w") as out:
        out["raw"] = f["raw"][()]
        out["raw"].attrs["element_size_um"] = np.asarray(VOXEL_SIZE)
        out["label"] = f["label"][()]
    return path


@pytest.fixture(scope="session")
def cli_predictions(tiny_training, cells_volume) -> dict[str, Path]:
    """The tiny model's prediction of ``cells.h5`` by the command line, with the segmentation: ``{"h5": HDF5
    output, "zarr": zarr output}`` (the zarr one by ``monai.bundle.run`` in this process, ``--output_format zarr``)."""
    model = tiny_training / "models" / "model.pt"
    outputs = {}
    for output_format in ("h5", "zarr"):
        output_dir = tiny_training / f"predictions_{output_format}"
        arguments = {
            "config_file": str(ROOT / "bundles" / "boundary" / "inference.json"),
            "input": str(cells_volume),
            "output_dir": str(output_dir),
            "ckpt_path": str(model),
            "save_segmentation": "true",
            "progress": "false",
            "cpu_bf16": "false",  # float32: the widget's run is compared with this one to 1e-5
        }
        if output_format == "h5":
            command = [sys.executable, "-m", "monai.bundle", "run"]
            command += [token for name, value in arguments.items() for token in (f"--{name}", value)]
            environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
            subprocess.run(command, check=True, env=environment, capture_output=True)
        else:
            run_bundle(**arguments, output_format="zarr")
        (outputs[output_format],) = output_dir.glob("cells_predictions.*")
    return outputs
