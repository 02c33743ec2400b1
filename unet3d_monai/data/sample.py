"""Deterministic synthetic sample datasets, the embedded default data of the bundles.

``python -m unet3d_monai.data.sample <task> <dir> [--seed N] [--overwrite]`` writes
``<dir>/train/*.h5``, ``<dir>/val/*.h5`` and ``<dir>/test/*.h5``, each file holding the datasets
``raw`` (float32) and ``label``. Tasks:

- ``boundary``: confocal images of a cell membrane stain (a tissue of cells filling the volume,
  thin bright membranes blurred by an anisotropic PSF, patches of weak or missing membrane stain
  (``--no_membrane_gaps`` leaves them out), uneven illumination, shot and read noise);
  ``label``: cell instance ids (uint16), to be turned into boundaries by ``LabelToBoundaryd``.
- ``lightsheet_boundary``: the same tissue seen by a light-sheet microscope: larger cells, a wider
  PSF, stripes along x, a lower signal-to-noise ratio; ``label``: cell instance ids (uint16).
- ``nuclei``: light-sheet images of a nuclear stain (ellipsoidal nuclei with chromatin texture);
  ``label``: nucleus instance ids (uint16, 0 background).
- ``denoising``: ``raw`` a noisy low-light membrane image, ``label`` its noise-free expectation
  (float32, same units), for regression.
- ``multiclass``: cells with nuclei; ``label``: class ids (uint8: 0 background, 1 cytoplasm,
  2 nucleus).
- ``dsb2018_2d``: 2D fluorescence images of nuclei stored with a singleton z, ``raw`` and
  ``label`` of shape ``(1, Y, X)``; ``label``: nucleus instance ids (uint16).

The data are a function of the task, the seed and the sizes only: every file draws from its own
``numpy.random.Generator(PCG64([seed, task, split, index]))``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from unet3d_monai.io.atomic import atomic_path, replace_path

from . import _phantoms

__all__ = ["TASKS", "ensure_sample_dataset", "generate_volume", "main", "save_preview", "write_sample_dataset"]

logger = logging.getLogger(__name__)

Volume = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _Microscope:
    """How a task's phantom is imaged (see :func:`_phantoms.acquire`): PSF, photon budget and detector."""

    psf_sigma: tuple[float, ...]
    peak_photons: float
    background_photons: float
    gain: float
    offset: float
    read_noise: float

    def image(
        self, rng: np.random.Generator, density: np.ndarray, illumination_field: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(noisy, clean)`` detector values of the emitter ``density``."""
        return _phantoms.acquire(
            rng,
            density,
            psf_sigma=self.psf_sigma,
            illumination_field=illumination_field,
            peak_photons=self.peak_photons,
            background_photons=self.background_photons,
            gain=self.gain,
            offset=self.offset,
            read_noise=self.read_noise,
        )


_CONFOCAL = _Microscope(
    (1.3, 0.7, 0.7), peak_photons=55.0, background_photons=1.0, gain=3.0, offset=12.0, read_noise=4.0
)
_LIGHTSHEET = _Microscope(
    (1.6, 1.0, 1.0), peak_photons=30.0, background_photons=3.0, gain=2.0, offset=100.0, read_noise=3.0
)
_LIGHTSHEET_NUCLEI = _Microscope(
    (1.4, 0.9, 0.9), peak_photons=40.0, background_photons=2.0, gain=2.0, offset=100.0, read_noise=3.0
)
_LOW_LIGHT = _Microscope(
    (1.2, 0.8, 0.8), peak_photons=8.0, background_photons=0.5, gain=1.0, offset=2.0, read_noise=1.0
)
_CONFOCAL_CELLS = _Microscope(
    (1.3, 0.8, 0.8), peak_photons=40.0, background_photons=1.5, gain=2.0, offset=50.0, read_noise=3.0
)


def _boundary(rng: np.random.Generator, shape: tuple[int, ...], gap_fraction: float = 0.1) -> Volume:
    spacing = (2.0, 1.0, 1.0)
    labels, membranes, cytoplasm = _phantoms.cell_membranes(
        rng, shape, spacing, cell_size=28.0, gap_fraction=gap_fraction
    )
    puncta = np.zeros(shape)
    count = max(1, int(np.prod(shape) / 6000))
    puncta.reshape(-1)[rng.integers(0, puncta.size, size=count)] = rng.uniform(1.0, 4.0, size=count)
    light = _phantoms.illumination(rng, shape, scale=48.0, contrast=0.3, depth_decay=0.45)
    raw, _ = _CONFOCAL.image(rng, membranes + cytoplasm + puncta, light)
    return raw, labels.astype(np.uint16)


def _lightsheet_boundary(rng: np.random.Generator, shape: tuple[int, ...], gap_fraction: float = 0.1) -> Volume:
    spacing = (1.5, 1.0, 1.0)
    labels, membranes, cytoplasm = _phantoms.cell_membranes(
        rng, shape, spacing, cell_size=32.0, membrane_width=0.6, gap_fraction=gap_fraction
    )
    light = _phantoms.illumination(rng, shape, scale=40.0, contrast=0.35, depth_decay=0.3)
    # light-sheet stripes: shadows cast along the illumination axis (x) by absorbing structures
    stripes = 1.0 + 0.15 * np.tanh(_phantoms.smooth_field(rng, (shape[0], shape[1], 1), (4.0, 2.5, 1.0)))
    raw, _ = _LIGHTSHEET.image(rng, membranes + 1.5 * cytoplasm, light * stripes)
    return raw, labels.astype(np.uint16)


def _nuclei(rng: np.random.Generator, shape: tuple[int, ...]) -> Volume:
    spacing = (2.0, 1.0, 1.0)
    labels, stain = _phantoms.nuclei(rng, shape, spacing, radius_range=(5.0, 8.0), density=0.8, min_gap=-1.0)
    light = _phantoms.illumination(rng, shape, scale=40.0, contrast=0.3, depth_decay=0.3)
    raw, _ = _LIGHTSHEET_NUCLEI.image(rng, stain, light)
    return raw, labels.astype(np.uint16)


def _denoising(rng: np.random.Generator, shape: tuple[int, ...]) -> Volume:
    spacing = (1.5, 1.0, 1.0)
    _, membranes, cytoplasm = _phantoms.cell_membranes(rng, shape, spacing, cell_size=15.0)
    light = _phantoms.illumination(rng, shape, scale=40.0, contrast=0.3)
    return _LOW_LIGHT.image(rng, membranes + 2.0 * cytoplasm, light)


def _multiclass(rng: np.random.Generator, shape: tuple[int, ...]) -> Volume:
    spacing = (2.0, 1.0, 1.0)
    classes, stain = _phantoms.cells_with_nuclei(rng, shape, spacing, radius_range=(11.0, 16.0))
    light = _phantoms.illumination(rng, shape, scale=48.0, contrast=0.25, depth_decay=0.3)
    raw, _ = _CONFOCAL_CELLS.image(rng, stain, light)
    return raw, classes


def _dsb2018_2d(rng: np.random.Generator, shape: tuple[int, ...]) -> Volume:
    plane = shape[1:]
    spacing = (1.0, 1.0)
    labels, stain = _phantoms.nuclei(
        rng, plane, spacing, radius_range=(6.0, 13.0), density=rng.uniform(0.3, 0.9), min_gap=-3.0
    )
    light = _phantoms.illumination(rng, plane, scale=96.0, contrast=0.25)
    # the photon budget varies from image to image
    camera = _Microscope(
        (1.2, 1.2), peak_photons=rng.uniform(30.0, 80.0), background_photons=2.0, gain=1.0, offset=10.0, read_noise=2.0
    )
    raw, _ = camera.image(rng, stain, light)
    return raw[None], labels.astype(np.uint16)[None]


@dataclass(frozen=True)
class _Task:
    code: int
    render: Callable[[np.random.Generator, tuple[int, ...]], Volume]
    shape: tuple[int, ...]
    splits: tuple[int, int, int]
    spacing_um: tuple[float, ...]
    summary: str
    membrane_gaps: bool = False


TASKS: dict[str, _Task] = {
    "boundary": _Task(
        1, _boundary, (48, 128, 128), (2, 1, 1), (0.5, 0.25, 0.25), "confocal cell membranes", membrane_gaps=True
    ),
    "lightsheet_boundary": _Task(
        2,
        _lightsheet_boundary,
        (48, 128, 128),
        (2, 1, 1),
        (0.6, 0.4, 0.4),
        "light-sheet cell membranes",
        membrane_gaps=True,
    ),
    "nuclei": _Task(3, _nuclei, (48, 128, 128), (2, 1, 1), (0.5, 0.25, 0.25), "light-sheet nuclei"),
    "denoising": _Task(4, _denoising, (32, 128, 128), (2, 1, 1), (0.3, 0.2, 0.2), "noisy/clean membrane pairs"),
    "multiclass": _Task(5, _multiclass, (48, 128, 128), (2, 1, 1), (0.5, 0.25, 0.25), "cells (1) and nuclei (2)"),
    "dsb2018_2d": _Task(6, _dsb2018_2d, (1, 256, 256), (8, 2, 2), (1.0, 0.3, 0.3), "2D fluorescent nuclei"),
}
"""The sample tasks: render function, default shape, default (train, val, test) file counts; ``membrane_gaps``
marks the tasks whose membrane stain has patches of weak or missing stain (their render takes ``gap_fraction``)."""

_SPLITS = ("train", "val", "test")
_MIN_SIZE = 8


def _check_task(task: str) -> _Task:
    if task not in TASKS:
        raise ValueError(f"Unknown sample task {task!r}; expected one of {sorted(TASKS)}.")
    return TASKS[task]


def _check_shape(task: str, shape: Sequence[int] | None) -> tuple[int, ...]:
    spec = _check_task(task)
    if shape is None:
        return spec.shape
    shape = tuple(int(s) for s in shape)
    if task == "dsb2018_2d":
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3 or shape[0] != 1 or min(shape[1:]) < _MIN_SIZE:
            raise ValueError(
                f"Sample task 'dsb2018_2d' needs a shape (Y, X) or (1, Y, X) with Y, X >= {_MIN_SIZE}, got {shape}."
            )
        return shape
    if len(shape) != 3 or min(shape) < _MIN_SIZE:
        raise ValueError(f"Sample task {task!r} needs a shape (Z, Y, X) with every size >= {_MIN_SIZE}, got {shape}.")
    return shape


def _check_membrane_gaps(task: str, membrane_gaps: bool) -> None:
    if not membrane_gaps and not _check_task(task).membrane_gaps:
        with_gaps = sorted(name for name, spec in TASKS.items() if spec.membrane_gaps)
        raise ValueError(
            f"membrane_gaps=False (--no_membrane_gaps) applies to the membrane tasks {with_gaps}; "
            f"sample task {task!r} has no membrane gaps to leave out."
        )


def generate_volume(
    task: str,
    shape: Sequence[int] | None = None,
    seed: int = 0,
    split: str = "train",
    index: int = 0,
    membrane_gaps: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one synthetic volume of ``task``.

    Args:
        task: one of :data:`TASKS`.
        shape: ``(Z, Y, X)`` (``(1, Y, X)`` or ``(Y, X)`` for ``dsb2018_2d``); None for the task's default.
        seed: dataset seed.
        split: ``"train"``, ``"val"`` or ``"test"``; each split draws different volumes.
        index: file index within the split.
        membrane_gaps: False renders the membrane tasks (``boundary``, ``lightsheet_boundary``) without their
            patches of weak or missing membrane stain; the labels stay the same. Other tasks accept only True.

    Returns:
        ``(raw, label)``: float32 raw ``(Z, Y, X)`` and the label of the same shape (dtype by task).

    Example::

        >>> raw, label = generate_volume("boundary", shape=(16, 48, 48), seed=0)
        >>> raw.dtype, label.dtype, raw.shape
        (dtype('float32'), dtype('uint16'), (16, 48, 48))
    """
    spec = _check_task(task)
    shape = _check_shape(task, shape)
    if split not in _SPLITS:
        raise ValueError(f"Sample split must be one of {_SPLITS}, got {split!r}.")
    _check_membrane_gaps(task, membrane_gaps)
    rng = np.random.Generator(np.random.PCG64([int(seed), spec.code, _SPLITS.index(split), int(index)]))
    if not membrane_gaps:
        return spec.render(rng, shape, gap_fraction=0.0)
    return spec.render(rng, shape)


def _write_h5(path: Path, raw: np.ndarray, label: np.ndarray, attrs: dict) -> None:
    """Write ``raw`` and ``label`` to ``path`` through a temporary file in the same folder."""
    chunks = tuple(min(s, c) for s, c in zip(raw.shape, (32, 64, 64)))
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as f:
        f.create_dataset("raw", data=raw, chunks=chunks)
        f.create_dataset("label", data=label, chunks=chunks, compression="gzip", compression_opts=1)
        f["raw"].attrs["element_size_um"] = attrs["spacing_um"]
        for key, value in attrs.items():
            f.attrs[key] = value


def write_sample_dataset(
    task: str,
    root: str | os.PathLike,
    seed: int = 0,
    overwrite: bool = False,
    shape: Sequence[int] | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    membrane_gaps: bool = True,
) -> Path:
    """Write the synthetic dataset of ``task`` to ``root``: ``train/``, ``val/`` and ``test/`` with ``*.h5``.

    Each file holds ``raw`` (float32) and ``label``. The files are built in a temporary folder beside
    ``root`` and moved into place at the end, so an interrupted run leaves no partial dataset.

    Args:
        task: one of :data:`TASKS` (``boundary``, ``lightsheet_boundary``, ``nuclei``, ``denoising``,
            ``multiclass``, ``dsb2018_2d``).
        root: output folder.
        seed: random seed; the same seed gives the same bytes.
        overwrite: replace the ``train/``, ``val/`` and ``test/`` folders of an existing non-empty ``root``
            (other content of ``root`` is left alone); without it a non-empty ``root`` is an error.
        shape: volume shape, None for the task's default.
        n_train: number of training files, None for the task's default; likewise ``n_val``, ``n_test``
            (0 leaves the split out).
        membrane_gaps: False leaves out the patches of weak or missing membrane stain (``boundary``,
            ``lightsheet_boundary`` only); the files then record ``membrane_gaps = False``.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: ``root`` is a non-empty folder (or a file) and ``overwrite`` is False.
        ValueError: unknown task, bad shape or negative file counts.

    Example::

        >>> write_sample_dataset("boundary", "data/boundary", shape=(24, 64, 64))
        PosixPath('data/boundary')
    """
    spec = _check_task(task)
    shape = _check_shape(task, shape)
    _check_membrane_gaps(task, membrane_gaps)
    counts = [spec.splits[i] if n is None else int(n) for i, n in enumerate((n_train, n_val, n_test))]
    if min(counts) < 0 or sum(counts) == 0:
        raise ValueError(f"Sample file counts (train, val, test) must be >= 0 and not all 0, got {tuple(counts)}.")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"Sample dataset folder {root} exists and is not a folder.")
    if root.is_dir() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(
            f"Sample dataset folder {root} exists and is not empty; pass overwrite=True (--overwrite) to replace "
            "its train/, val/ and test/ folders."
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.{os.getpid()}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        for split, count in zip(_SPLITS, counts):
            if count == 0:
                continue
            (staging / split).mkdir()
            for index in range(count):
                raw, label = generate_volume(task, shape, seed, split, index, membrane_gaps)
                attrs = {"task": task, "seed": int(seed), "split": split, "spacing_um": spec.spacing_um}
                if spec.membrane_gaps:
                    attrs["membrane_gaps"] = bool(membrane_gaps)
                _write_h5(staging / split / f"{task}_{split}_{index:02d}.h5", raw, label, attrs)
        if not root.exists():
            return replace_path(staging, root)
        for split in _SPLITS:
            if (staging / split).exists():
                replace_path(staging / split, root / split)
            elif (root / split).exists():
                shutil.rmtree(root / split) if (root / split).is_dir() else (root / split).unlink()
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return root


def ensure_sample_dataset(task: str, root: str | os.PathLike) -> Path:
    """Return ``root``, first writing the default synthetic ``task`` dataset there when it does not exist.

    An existing ``root`` is used as it is, whatever it holds.

    Example::

        >>> ensure_sample_dataset("boundary", "bundles/boundary/data")
        PosixPath('bundles/boundary/data')
    """
    _check_task(task)
    root = Path(root)
    if not root.exists():
        logger.info("generating synthetic %s dataset in %s", task, root)
        write_sample_dataset(task, root)
    return root


def _to_uint8(image: np.ndarray, low: float = 0.5, high: float = 99.8) -> np.ndarray:
    lo, hi = np.percentile(image, [low, high])
    return (np.clip((image - lo) / max(hi - lo, 1e-12), 0, 1) * 255).astype(np.uint8)


def save_preview(raw: np.ndarray, label: np.ndarray, path: str | os.PathLike, zoom: int = 3) -> Path:
    """Save a PNG of the middle z-slice of ``raw`` (contrast-stretched) beside the boundaries of ``label``.

    Args:
        raw: ``(Z, Y, X)`` or ``(Y, X)`` image.
        label: label of the same shape (instance or class ids).
        path: output PNG, written through a temporary file.
        zoom: integer magnification (nearest neighbour).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    from PIL import Image
    from skimage.segmentation import find_boundaries

    if raw.shape != label.shape or raw.ndim not in (2, 3):
        raise ValueError(
            f"save_preview expects raw and label of one 2D or 3D shape, got {raw.shape} and {label.shape}."
        )
    if raw.ndim == 3:
        raw, label = raw[raw.shape[0] // 2], label[label.shape[0] // 2]
    left = _to_uint8(raw)
    right = find_boundaries(label.astype(np.int32), connectivity=2, mode="thick").astype(np.uint8) * 255
    gap = np.full((left.shape[0], 4), 128, dtype=np.uint8)
    panel = np.concatenate([left, gap, right], axis=1)
    panel = np.kron(panel, np.ones((zoom, zoom), dtype=np.uint8))
    path = Path(path)
    with atomic_path(path, suffix=".png") as temporary:
        Image.fromarray(panel).save(temporary, format="PNG")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m unet3d_monai.data.sample <task> <dir> [--seed N] [--overwrite] [--shape Z Y X]
    [--no_membrane_gaps] [--preview PNG]``."""
    parser = argparse.ArgumentParser(
        prog="python -m unet3d_monai.data.sample",
        description="Write a deterministic synthetic dataset (train/, val/, test/ with *.h5 holding raw and label).",
    )
    parser.add_argument("task", choices=sorted(TASKS), help="which dataset to write")
    parser.add_argument("dir", type=Path, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace train/, val/, test/ of a non-empty folder")
    parser.add_argument("--shape", type=int, nargs="+", help="volume shape Z Y X (Y X for dsb2018_2d)")
    parser.add_argument(
        "--no_membrane_gaps",
        action="store_true",
        help="boundary, lightsheet_boundary: continuous membranes, without patches of weak or missing stain",
    )
    parser.add_argument("--preview", type=Path, help="also save a PNG of the middle slice of the first training file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        root = write_sample_dataset(
            args.task,
            args.dir,
            seed=args.seed,
            overwrite=args.overwrite,
            shape=args.shape,
            membrane_gaps=not args.no_membrane_gaps,
        )
    except (FileExistsError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    files = [path for split in _SPLITS for path in sorted((root / split).glob("*.h5"))]
    logger.info("wrote %d files of the synthetic %s dataset to %s", len(files), args.task, root)
    if args.preview is not None:
        with h5py.File(files[0], "r") as f:
            save_preview(f["raw"][()], f["label"][()], args.preview)
        logger.info("saved preview %s", args.preview)


if __name__ == "__main__":
    main()
