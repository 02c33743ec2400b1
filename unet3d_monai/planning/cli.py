"""``unet3d-monai plan --dataset_dir DIR [--bundle NAME]``: the fingerprint of a training set and the plan it
yields, printed as a table with a reason per entry (and written as JSON with ``--json``)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from monai.bundle import ConfigParser

from unet3d_monai.data.sample import TASKS as SAMPLE_TASKS
from unet3d_monai.io.atomic import atomic_write
from unet3d_monai.networks import UNet3D
from unet3d_monai.planning.fingerprint import compute_fingerprint
from unet3d_monai.planning.plan import AUTO, make_plan

__all__ = ["add_plan_command", "bundle_train_config", "run_plan"]

BUNDLES_DIR = Path(__file__).resolve().parents[2] / "bundles"


def bundle_train_config(bundle: str | os.PathLike) -> Path:
    """The ``train.json`` of ``bundle``: a bundle name (``bundles/<name>``), a bundle folder or the file itself.

    Raises:
        FileNotFoundError: one sentence naming what was looked for.
    """
    candidates = [Path(bundle), Path(bundle) / "train.json", BUNDLES_DIR / str(bundle) / "train.json"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    names = sorted(p.parent.name for p in BUNDLES_DIR.glob("*/train.json"))
    raise FileNotFoundError(
        f"--bundle {bundle}: no train.json there; give a bundle folder, its train.json, or one of {names}."
    )


def add_plan_command(commands: argparse._SubParsersAction) -> None:
    """Add the ``plan`` sub-command to ``unet3d-monai``'s parser."""
    plan = commands.add_parser("plan", help="fingerprint a training set and print the training plan")
    plan.add_argument("--dataset_dir", required=True, type=Path, help="folder with train/ (or the volumes)")
    plan.add_argument("--bundle", help="bundle whose network is planned for (name, folder or train.json)")
    plan.add_argument("--raw_key", default="raw", help="HDF5 dataset of the images")
    plan.add_argument("--label_key", default="label", help="HDF5 dataset of the labels")
    plan.add_argument("--voxel_size", type=float, nargs="+", help="voxel size of files that state none")
    plan.add_argument("--memory_budget", help="bytes a training step may use, e.g. 4GB (default: from the device)")
    plan.add_argument(
        "--step_seconds",
        default=AUTO,
        help="what a CPU training step may cost: auto (no more operations than a step at the fixed default patch), "
        "a number of seconds, none",
    )
    plan.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    plan.add_argument("--patch_size", type=int, nargs="+", help="keep this patch (clipped to the volumes)")
    plan.add_argument("--batch_size", type=int, help="keep this batch size")
    plan.add_argument("--normalization", help="keep this normalisation")
    plan.add_argument("--pool_kernel_size", type=json.loads, help="keep this pooling, JSON, e.g. [[1,2,2],2]")
    plan.add_argument("--json", type=Path, help="also write the plan (with the fingerprint) to this JSON file")


def _network(bundle: str | None, dataset_dir: Path) -> tuple[torch.nn.Module, str]:
    if bundle is None:
        return UNet3D(1, 1, f_maps=32, layer_order="gcr", num_groups=8), "UNet3D f_maps 32"
    config = bundle_train_config(bundle)
    parser = ConfigParser()
    parser.read_config(str(config))
    parser["bundle_root"] = str(config.parent)
    parser["dataset_dir"] = str(dataset_dir)
    return parser.get_parsed_content("network_def"), f"network_def of {config}"


def run_plan(args: argparse.Namespace) -> None:
    """Fingerprint ``args.dataset_dir``, plan and print the table.

    Raises:
        FileNotFoundError: ``--dataset_dir`` does not exist (one sentence saying what it should hold).
    """
    if not Path(args.dataset_dir).exists():
        bundle = Path(args.bundle) if args.bundle else None
        task = "boundary" if bundle is None else bundle.parent.name if bundle.suffix == ".json" else bundle.name
        sample = (
            f" (python -m unet3d_monai.data.sample {task} {args.dataset_dir} writes a synthetic one there)"
            if task in SAMPLE_TASKS
            else ""
        )
        raise FileNotFoundError(
            f"--dataset_dir {args.dataset_dir} does not exist; give a folder holding train/ with the training volumes "
            f"(*.h5), or the volumes themselves{sample}."
        )
    network, source = _network(args.bundle, args.dataset_dir)
    fingerprint = compute_fingerprint(args.dataset_dir, args.raw_key, args.label_key or None, args.voxel_size)
    plan = make_plan(
        fingerprint,
        network,
        device=args.device,
        memory_budget_bytes=args.memory_budget,
        patch_size=args.patch_size or AUTO,
        batch_size=args.batch_size or AUTO,
        normalization=args.normalization or AUTO,
        pool_kernel_size=args.pool_kernel_size or AUTO,
        step_seconds=args.step_seconds,
    )
    volumes = len(fingerprint.volumes)
    print(f"{volumes} training volume{'s' * (volumes != 1)}, median shape {fingerprint.median_shape}; {source}")
    print(plan.table())
    if args.json is not None:
        with atomic_write(args.json, "w") as handle:
            json.dump(plan.to_dict(), handle, indent=2)
        print(f"wrote {args.json}")
