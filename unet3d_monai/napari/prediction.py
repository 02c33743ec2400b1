"""A bundle's prediction of an in-memory image, as the command line makes it: the image is written to an HDF5
file, the bundle's ``inference.json`` runs on it in this process, and its output file is read back."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from monai.bundle import ConfigParser, ConfigWorkflow
from monai.data.utils import dense_patch_slices
from monai.inferers.utils import _get_scan_interval
from monai.utils import ensure_tuple_rep

__all__ = [
    "OPTION_NAMES",
    "LayerPrediction",
    "PredictionCancelled",
    "bundle_defaults",
    "bundle_folders",
    "predict_layer",
    "window_count",
]

#: the options of ``inference.json`` the predict widget shows, with the bundle's defaults
OPTION_NAMES = (
    "roi_size",
    "overlap",
    "tta",
    "segmentation_mode",
    "threshold",
    "min_size",
    "min_distance",
    "save_segmentation",
)
#: the repository's ``bundles/`` folder (a clone or an editable install), where the widget lists the bundles
REPOSITORY_BUNDLES = Path(__file__).resolve().parents[2] / "bundles"
#: the name of the image's file in the work folder; the bundle writes ``<work>/output/layer_predictions.h5``
INPUT_NAME = "layer.h5"


class PredictionCancelled(Exception):
    """The prediction was cancelled before it finished."""


@dataclass
class LayerPrediction:
    """What a bundle predicted for an image.

    Attributes:
        probabilities: ``(C, Z, Y, X)`` float32, the ``predictions`` of the output file (``(C, 1, Y, X)`` for 2D).
        segmentation: ``(Z, Y, X)`` uint32 labels, or None without ``save_segmentation``.
        voxel_size: the ``element_size_um`` the output recorded (the image's), or None.
        output_path: the output file the arrays were read from.
    """

    probabilities: np.ndarray
    segmentation: np.ndarray | None
    voxel_size: tuple[float, ...] | None
    output_path: Path


def bundle_folders(root: str | PathLike = REPOSITORY_BUNDLES) -> list[Path]:
    """The bundle folders under ``root`` (those with an ``inference.json``), sorted by name; the repository's
    ``bundles/`` by default."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "inference.json").is_file())


def bundle_defaults(bundle: str | PathLike, ckpt_path: str | PathLike | None = None) -> dict[str, Any]:
    """The defaults of :data:`OPTION_NAMES` in the bundle's ``inference.json``, as they apply to the weights
    ``ckpt_path`` (``roi_size`` is the patch size in a trained model's record; default: the bundle's
    ``models/model.pt``).

    Example::

        >>> bundle_defaults("bundles/boundary")["segmentation_mode"]
        'boundary_distance_watershed'

    Raises:
        FileNotFoundError: the folder has no ``inference.json``.
    """
    config = Path(bundle) / "inference.json"
    if not config.is_file():
        raise FileNotFoundError(f"Bundle folder '{bundle}' has no inference.json.")
    parser = ConfigParser()
    parser.read_config(str(config))
    parser["bundle_root"] = str(Path(bundle))
    if ckpt_path is not None:
        parser["ckpt_path"] = str(ckpt_path)
    defaults = {name: parser.get_parsed_content(name) for name in OPTION_NAMES if name in parser}
    defaults["save_segmentation"] = True
    return defaults


def window_count(
    spatial_shape: Sequence[int], window: Sequence[int], overlap: float | Sequence[float], batch_size: int = 1
) -> int:
    """How many windows of ``window`` with ``overlap`` cover ``spatial_shape`` (MONAI's sliding-window grid).

    Example:
        >>> window_count((16, 64, 64), (16, 48, 48), 0.25)
        4
    """
    overlap = tuple(overlap) if isinstance(overlap, Sequence) else overlap
    if isinstance(overlap, tuple) and len(overlap) == len(spatial_shape) - 1:
        overlap = (0.0, *overlap)
    overlap = ensure_tuple_rep(overlap, len(spatial_shape))
    window = tuple(min(int(w), int(s)) for w, s in zip(window, spatial_shape))
    interval = _get_scan_interval(tuple(spatial_shape), window, len(spatial_shape), overlap)
    return math.ceil(len(dense_patch_slices(tuple(spatial_shape), window, interval)) / batch_size) * batch_size


def predict_layer(
    image: np.ndarray,
    voxel_size: Sequence[float] | None,
    bundle: str | PathLike,
    ckpt_path: str | PathLike,
    options: Mapping[str, Any],
    work_dir: str | PathLike,
    on_windows: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> LayerPrediction:
    """Predict ``image`` with the bundle's ``inference.json``, as ``python -m monai.bundle run --config_file
    <bundle>/inference.json --input <image file> --output_dir <work>/output --ckpt_path <ckpt_path>`` with
    ``options`` does: the same chain, so the same arrays.

    Args:
        image: ``(Z, Y, X)``, ``(Y, X)`` or ``(C, Z, Y, X)``; written as ``raw`` to ``<work_dir>/layer.h5``.
        voxel_size: the image's voxel size (a layer's ``scale``), written as ``element_size_um`` so that the model
            sees the image at its training voxel size; None, or all ones (napari's unit scale), writes none.
        bundle: the bundle folder (``bundles/boundary``).
        ckpt_path: the weights (``model.pt``, with its record ``model.json`` beside it when training wrote one).
        options: bundle options (``roi_size``, ``overlap``, ``tta``, ``save_segmentation``, ...), as on the
            command line.
        work_dir: an empty folder for the image and the output.
        on_windows: called with ``(windows done, windows expected)`` after each batch of windows (from the thread
            that predicts); the expected count is 0 when it cannot be told beforehand.
        cancel: when set, the prediction stops at the next batch of windows with :class:`PredictionCancelled`.

    Example::

        result = predict_layer(layer.data, layer.scale, "bundles/boundary", "models/model.pt",
                               {"save_segmentation": True}, tempfile.mkdtemp())
        result.probabilities.shape   # (1, Z, Y, X)

    Raises:
        PredictionCancelled: ``cancel`` was set.
        FileNotFoundError: the bundle has no ``inference.json``.
        ValueError, and the package's other errors: the bundle's one-sentence errors about options and input.
    """
    bundle, work_dir = Path(bundle), Path(work_dir)
    config = bundle / "inference.json"
    if not config.is_file():
        raise FileNotFoundError(f"Bundle folder '{bundle}' has no inference.json.")
    image = np.asarray(image)
    input_path = work_dir / INPUT_NAME
    output_dir = work_dir / "output"
    with h5py.File(input_path, "w") as f:
        raw = f.create_dataset("raw", data=image)
        if voxel_size is not None and not np.allclose(np.asarray(voxel_size, dtype=np.float64), 1.0):
            raw.attrs["element_size_um"] = np.asarray(voxel_size, dtype=np.float64)
    workflow = ConfigWorkflow(
        config_file=str(config),
        meta_file=str(bundle / "metadata.json"),
        logging_file=False,
        workflow_type=None,
        bundle_root=str(bundle),
        input=str(input_path),
        output_dir=str(output_dir),
        ckpt_path=str(ckpt_path),
        progress=False,
        **dict(options),
    )
    workflow.initialize()
    network = workflow.parser.get_parsed_content("network")
    expected = _expected_windows(workflow.parser, image, network)
    done = [0]

    def count(_module: torch.nn.Module, inputs: tuple) -> None:
        if cancel is not None and cancel.is_set():
            raise PredictionCancelled("The prediction was cancelled.")
        if on_windows is not None and done[0]:
            on_windows(done[0], expected)
        done[0] += int(inputs[0].shape[0])

    handle = network.register_forward_pre_hook(count)
    try:
        workflow.run()
    except Exception as error:
        if cancel is not None and cancel.is_set():
            raise PredictionCancelled("The prediction was cancelled.") from error
        raise
    finally:
        handle.remove()
        workflow.finalize()
    if on_windows is not None:
        on_windows(done[0], done[0])
    return _read_output(output_dir / f"{Path(INPUT_NAME).stem}_predictions.h5")


def _expected_windows(parser: ConfigParser, image: np.ndarray, network: torch.nn.Module) -> int:
    """The windows the network will see (each flip of ``tta`` counts): 0 when the chain cannot tell beforehand
    (the volume is resampled to the model's voxel size)."""
    try:
        spatial = image.shape if image.ndim < 4 else image.shape[1:]
        spatial = (1, *spatial) if len(spatial) == 2 else tuple(spatial)
        inferer = parser.get_parsed_content("inferer")
        window_predictor = parser.get_parsed_content("window_predictor")
        windows = window_count(spatial, inferer.window_for(spatial, network), parser.get_parsed_content("overlap"))
        flips = 2 ** (3 if window_predictor.spatial_dims == 3 else 2) if window_predictor.tta else 1
        return windows * flips
    except Exception:  # an estimate only: the progress bar is then indeterminate
        return 0


def _read_output(path: Path) -> LayerPrediction:
    with h5py.File(path, "r") as f:
        probabilities = f["predictions"][()]
        segmentation = f["segmentation"][()] if "segmentation" in f else None
        size = f["predictions"].attrs.get("element_size_um")
    voxel_size = None if size is None else tuple(float(v) for v in np.ravel(size))
    return LayerPrediction(probabilities, segmentation, voxel_size, path)
