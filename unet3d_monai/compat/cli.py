"""Command lines for people coming from pytorch-3dunet.

- ``unet3d-monai convert CONFIG.yml BUNDLE_DIR``: write a bundle folder from a pytorch-3dunet configuration.
- ``unet3d-monai plan --dataset_dir DIR [--bundle NAME]``: the training plan of a dataset
  (:mod:`unet3d_monai.planning.cli`).
- ``unet3d-monai segment --input PRED --output OUT --mode MODE [--block_shape Z Y X] [--scheduler local:N]``: objects
  from a probability map (:func:`unet3d_monai.inference.segment_files.segment_file`).
- ``train3dunet --config train_config.yml``: convert in memory and train.
- ``predict3dunet --config test_config.yml [--model_path ...] [--loaders.output_dir ...]
  [--loaders.test.file_paths ...]``: convert in memory and predict, writing ``<stem>_predictions.h5``.

``train3dunet`` and ``predict3dunet`` take pytorch-3dunet's own command-line overrides, applied to the YAML
content before conversion. Bad input ends with one sentence (``UNET3D_MONAI_TRACEBACK=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser

from unet3d_monai.compat.convert import convert_pytorch3dunet_config, read_pytorch3dunet_config, write_bundle
from unet3d_monai.errors import TRACEBACK_VARIABLE, explain, quiet_user_error_logs
from unet3d_monai.inference.segment_files import segment_file
from unet3d_monai.options import as_bool
from unet3d_monai.planning.cli import add_plan_command, run_plan
from unet3d_monai.segmentation.segmenter import SegmentationMode

__all__ = ["apply_overrides", "main", "predict3dunet", "run_bundle_config", "train3dunet"]

logger = logging.getLogger("unet3d_monai")

# pytorch-3dunet's command-line overrides: option -> (dotted key, argparse options)
SEED_OVERRIDES: dict[str, dict[str, Any]] = {
    "model_path": {"type": str},
    "loaders.output_dir": {"type": str},
    "loaders.test.file_paths": {"type": str, "nargs": "+"},
    "loaders.test.slice_builder.patch_shape": {"type": int, "nargs": "+"},
    "loaders.test.slice_builder.stride_shape": {"type": int, "nargs": "+"},
}


def apply_overrides(config: Mapping, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with dotted keys replaced, as pytorch-3dunet's ``--loaders.output_dir DIR`` did.

    ``None`` values are skipped; missing sections on the way are created.

    Example::

        >>> apply_overrides({"loaders": {"test": {}}}, {"loaders.test.file_paths": ["a.h5"]})
        {'loaders': {'test': {'file_paths': ['a.h5']}}}
    """
    result = copy.deepcopy(dict(config))
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = result
        *parents, last = dotted.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[last] = value
    return result


def run_bundle_config(content: Mapping, run_id: str, overrides: Mapping[str, Any] | None = None) -> Any:
    """Run a bundle config held in memory as ``python -m monai.bundle run <run_id>`` runs a file: ``initialize``,
    then ``run_id``, then ``finalize``."""
    parser = ConfigParser(copy.deepcopy(dict(content)))
    parser.update(dict(overrides or {}))
    parser.get_parsed_content("initialize")
    try:
        return parser.get_parsed_content(run_id)
    finally:
        if "finalize" in parser:
            parser.get_parsed_content("finalize")


def _seed_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", type=str, required=True, help="path to the pytorch-3dunet YAML configuration")
    for option, kwargs in SEED_OVERRIDES.items():
        parser.add_argument(f"--{option}", dest=option, required=False, **kwargs)
    return parser


def _log_notes(notes: Sequence) -> None:
    for note in notes:
        logger.warning("pytorch-3dunet key %s", note)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    quiet_user_error_logs()  # bad input that stops a training engine is printed once, as its sentence


def _explained(function, argv: Sequence[str] | None) -> int:
    try:
        function(argv)
    except Exception as error:  # bad input is explained in one sentence; anything else keeps its traceback
        explained = None if os.environ.get(TRACEBACK_VARIABLE) else explain(error)
        if explained is None:
            raise
        print(f"error: {explained}", file=sys.stderr)
        print(f"(set {TRACEBACK_VARIABLE}=1 for the full traceback)", file=sys.stderr)
        return 1
    return 0


def _check_model_path(config: Mapping) -> None:
    path = config.get("model_path")
    if path is None or Path(path).is_file():
        return
    ours = Path(path).parent / "model.pt"
    hint = f"; this package's training writes its best weights to {ours}: pass --model_path {ours}"
    hint = hint if ours.is_file() else ""
    raise FileNotFoundError(f"model_path {path} does not exist{hint}.")


def _train(argv: Sequence[str] | None) -> None:
    args = _seed_parser("train3dunet", "Train from a pytorch-3dunet train configuration.").parse_args(argv)
    config = apply_overrides(read_pytorch3dunet_config(args.config), {k: getattr(args, k) for k in SEED_OVERRIDES})
    bundle = convert_pytorch3dunet_config(config, source=args.config)
    if bundle.train is None:
        raise ValueError(f"{args.config} is not a train configuration: it has no 'trainer' and no 'loaders.train'.")
    _log_notes(bundle.notes)
    run_bundle_config(bundle.train, "training")


def _predict(argv: Sequence[str] | None) -> None:
    parser = _seed_parser("predict3dunet", "Predict with a pytorch-3dunet test configuration.")
    parser.add_argument("--overwrite", action="store_true", help="replace existing <stem>_predictions.h5 files")
    args = parser.parse_args(argv)
    config = apply_overrides(read_pytorch3dunet_config(args.config), {k: getattr(args, k) for k in SEED_OVERRIDES})
    bundle = convert_pytorch3dunet_config(config, source=args.config)
    if bundle.train is None:
        _check_model_path(config)
    _log_notes(bundle.notes)
    run_bundle_config(bundle.inference, "run", {"overwrite": bool(args.overwrite)})


def _convert(args: argparse.Namespace) -> None:
    bundle = convert_pytorch3dunet_config(args.config)
    path = write_bundle(bundle, args.bundle_dir, overwrite=args.overwrite)
    files = ["train.json"] if bundle.train is not None else []
    print(f"wrote {path}: {', '.join([*files, 'inference.json', 'metadata.json', 'logging.conf', 'README.md'])}")
    if bundle.notes:
        print("keys without an exact equivalent (also listed in README.md):")
        for note in bundle.notes:
            print(f"  {note}")
    if bundle.train is not None:
        print(f"train:   python -m monai.bundle run training --config_file {path / 'train.json'}")
    print(f"predict: python -m monai.bundle run --config_file {path / 'inference.json'}")


def _main(argv: Sequence[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="unet3d-monai", description="unet3d-monai tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("convert", help="convert a pytorch-3dunet YAML configuration into a bundle folder")
    convert.add_argument("config", type=Path, help="pytorch-3dunet train or test configuration (YAML)")
    convert.add_argument("bundle_dir", type=Path, help="folder to write the bundle to")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing bundle folder")
    add_plan_command(commands)
    _add_segment_command(commands)
    args = parser.parse_args(argv)
    if args.command == "plan":
        _configure_logging()
        run_plan(args)
    elif args.command == "segment":
        _configure_logging()
        _segment(args)
    else:
        _convert(args)


def _add_segment_command(commands: argparse._SubParsersAction) -> None:
    segment = commands.add_parser(
        "segment",
        help="segment a probability map (HDF5 or zarr) into objects, in memory or block-wise (on Dask)",
        description="Segment probabilities made by this package, pytorch-3dunet, PlantSeg or anything else that "
        "writes them to HDF5 or zarr. Without --block_shape the map is segmented in memory; with it, block by block "
        "with a halo of --object_size plus the seeds' --min_distance, stitched into one label volume.",
    )
    segment.add_argument("--input", required=True, type=Path, help="HDF5 file or zarr store with the probabilities")
    segment.add_argument("--output", required=True, type=Path, help=".h5 file or .zarr store to write to")
    segment.add_argument("--mode", required=True, choices=[m.value for m in SegmentationMode])
    segment.add_argument("--dataset", default="predictions", help="the probabilities' dataset (array) in --input")
    segment.add_argument("--threshold", type=float, default=0.5, help="probability threshold")
    segment.add_argument("--min_size", type=int, default=0, help="smallest object (or seed) kept, in voxels")
    segment.add_argument("--min_distance", type=int, default=2, help="smallest distance between two seeds, in voxels")
    segment.add_argument("--object_size", type=int, nargs="+", default=[32], help="largest object, voxels (Z Y X)")
    segment.add_argument("--block_shape", type=int, nargs=3, help="segment block-wise in blocks of Z Y X voxels")
    segment.add_argument("--scheduler", help="Dask cluster for the blocks: local:N or a scheduler's address")
    segment.add_argument("--overwrite", action="store_true", help="replace an existing output")
    segment.add_argument("--progress", default="true", help="progress bar over the blocks (true/false)")
    segment.add_argument("--resume", action="store_true", help="keep the blocks an interrupted block-wise run finished")


def _segment(args: argparse.Namespace) -> None:
    object_size = args.object_size[0] if len(args.object_size) == 1 else args.object_size
    written = segment_file(
        args.input,
        args.output,
        args.mode,
        dataset=args.dataset,
        threshold=args.threshold,
        min_size=args.min_size,
        min_distance=args.min_distance,
        object_size=object_size,
        block_shape=args.block_shape,
        scheduler=args.scheduler,
        overwrite=args.overwrite,
        progress=as_bool(args.progress, "progress"),
        resume=args.resume,
    )
    print(f"wrote {written}")


def main(argv: Sequence[str] | None = None) -> int:
    """``unet3d-monai convert CONFIG.yml BUNDLE_DIR``, ``unet3d-monai plan --dataset_dir DIR`` and
    ``unet3d-monai segment --input PRED --output OUT --mode MODE``."""
    return _explained(_main, argv)


def train3dunet(argv: Sequence[str] | None = None) -> int:
    """``train3dunet --config train_config.yml``: pytorch-3dunet's training command, on this package."""
    _configure_logging()
    return _explained(_train, argv)


def predict3dunet(argv: Sequence[str] | None = None) -> int:
    """``predict3dunet --config test_config.yml``: pytorch-3dunet's prediction command, on this package."""
    _configure_logging()
    return _explained(_predict, argv)
