"""Seconds per training iteration of a boundary recipe, this project against pytorch-3dunet, in one run.

The recipe (``--bundle``): ``boundary`` (the default) trains UNet3D, ``lightsheet_boundary`` ResidualUNet3D, both
with f_maps 32, layer order 'gcr', 8 groups, BCE + Dice loss, Adam, batch 1, one DataLoader worker, float32
(``--cpu_bf16`` runs this project's side with the bundle's bfloat16 autocast; pytorch-3dunet stays float32). Both
sides read the same synthetic HDF5 volumes (``unet3d_monai.data.sample`` with the bundle's task).

Rows, each the median over ``--repeats`` of the mean seconds per iteration over ``--iterations`` iterations after
``--warmup`` warm-up iterations:

- **trainer**: this project's MONAI ``SupervisedTrainer`` built from ``bundles/<bundle>/train.json`` with the
  bundle's DataLoader and augmentations (what ``python -m monai.bundle run training`` does, without its logging,
  validation and checkpoint handlers), against pytorch-3dunet's own ``UNetTrainer`` from
  ``pytorch3dunet.unet3d.trainer.create_trainer`` and ``fit()``, configured in code like the seed's
  ``3DUnet_confocal_boundary`` or ``3DUnet_lightsheet_boundary`` example (StandardHDF5Dataset,
  FilterSliceBuilder with stride a quarter of the patch, random scaling, its standard augmentations with elastic
  deformation), with validation and image logging pushed past the end of the run and its log lines silenced. An
  iteration ends when the optimizer's step returns (a ``torch.optim.Optimizer`` step hook on both sides).
- **waiting for data**: how long each trainer iteration waited for its batch (ignite's ``GET_BATCH`` events on
  this project's side; the time ``next()`` took on pytorch-3dunet's training DataLoader on the other).
- **plain loop, same DataLoader**: a hand-written loop (forward, loss, backward, step) over this project's network,
  loss, optimizer and DataLoader: what the MONAI engine costs over it.
- **network step, batches in memory**: forward, the bundle's BCE + Dice loss, backward and Adam step on the same
  batches already in memory, this project's network (``unet3d_monai.networks.UNet3D`` or ``ResidualUNet3D``)
  against pytorch-3dunet's of the same name (the compute floor of each).

The measurements alternate between the two sides (and swap which side goes first from one repeat to the next),
so that load from other processes on a shared machine reaches both. The run also prints the float32 and bfloat16
4096x4096 matmul throughput (the best of a few products before and after the steps: the machine's attainable
peak), the FLOPs of one training step (the network's forward and backward passes and the loss, as counted by
``torch.utils.flop_counter.FlopCounterMode``: convolutions and matrix products), and for each row the achieved
GFLOP/s and its share of the float32 peak (and of the bfloat16 peak for this project's rows with ``--cpu_bf16``).

pytorch-3dunet is optional: ``pip install --no-deps pytorch3dunet==1.9.6``; without it only this project's rows are
measured. Figures only, never pass or fail.

Usage::

    python benchmarks/train_step.py [--bundle boundary|lightsheet_boundary] [--iterations 20] [--repeats 3]
                                    [--warmup 3] [--patch 32 96 96]
                                    [--num_workers 1] [--threads 2] [--cpu_bf16] [--json OUT]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import logging
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import _reference
import monai
import torch
from ignite.engine import Events
from monai.bundle import ConfigParser
from monai.utils import set_determinism
from torch.utils.flop_counter import FlopCounterMode

from unet3d_monai.data.sample import write_sample_dataset

BUNDLES_DIR = Path(__file__).resolve().parents[1] / "bundles"
RECIPES = ("boundary", "lightsheet_boundary")
"""The bundles whose recipe this benchmark runs on both sides (``_reference.recipe`` gives pytorch-3dunet's)."""
MATMUL_SIZE = 4096
MATMUL_TRIES = 3
SEED = 0

Batch = tuple[torch.Tensor, torch.Tensor]


# ---------------------------------------------------------------------------------------------------------------
# timing helpers shared by both sides


class StepClock:
    """Records the time at which each ``optimizer.step()`` returns, through the optimizer's step hook."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.ends: list[float] = []
        self._handle = optimizer.register_step_post_hook(lambda *_: self.ends.append(time.perf_counter()))

    def seconds_per_iteration(self, warmup: int, iterations: int) -> float:
        """Mean seconds per iteration over ``iterations`` iterations after ``warmup`` warm-up iterations."""
        if len(self.ends) < warmup + iterations:
            raise RuntimeError(f"expected {warmup + iterations} optimizer steps, counted {len(self.ends)}")
        return (self.ends[warmup + iterations - 1] - self.ends[warmup - 1]) / iterations

    def close(self) -> None:
        self._handle.remove()


class TimedBatches:
    """Iterates over ``loader`` and records how long each batch took to arrive (``len`` is the loader's)."""

    def __init__(self, loader: Iterable) -> None:
        self.loader = loader
        self.waits: list[float] = []

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        batches = iter(self.loader)
        while True:
            start = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            self.waits.append(time.perf_counter() - start)
            yield batch


def matmul_peak_gflops(dtype: torch.dtype, size: int = MATMUL_SIZE, tries: int = MATMUL_TRIES) -> float:
    """Best GFLOP/s of a ``size`` x ``size`` matrix product in ``dtype`` over ``tries`` runs after one warm-up."""
    generator = torch.Generator().manual_seed(SEED)
    a = torch.randn(size, size, generator=generator).to(dtype)
    b = torch.randn(size, size, generator=generator).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def step_flops(forward: Callable[[torch.Tensor], torch.Tensor], loss_fn: Callable, batch: Batch) -> int:
    """FLOPs of one forward and backward pass through ``forward`` and ``loss_fn`` on ``batch``, in float32."""
    image, label = batch
    with FlopCounterMode(display=False) as counter:
        loss_fn(forward(image), label).backward()
    return counter.get_total_flops()


def network_step_timing(
    forward: Callable[[torch.Tensor], torch.Tensor],
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer,
    batches: list[Batch],
    warmup: int,
) -> float:
    """Mean seconds per forward, loss, backward and optimizer step over ``batches`` after ``warmup`` of them."""
    clock = StepClock(optimizer)
    for image, label in batches:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(forward(image), label).backward()
        optimizer.step()
    clock.close()
    return clock.seconds_per_iteration(warmup, len(batches) - warmup)


# ---------------------------------------------------------------------------------------------------------------
# this project: the bundle


def build_bundle(
    bundle: str, dataset_dir: Path, patch: list[int], num_workers: int, epoch_length: int, work: Path, cpu_bf16: bool
) -> ConfigParser:
    """The bundle's training config on ``dataset_dir``, on the CPU, one epoch of ``epoch_length``."""
    parser = ConfigParser()
    parser.read_config(str(BUNDLES_DIR / bundle / "train.json"))
    parser.update(
        {
            "dataset_dir": str(dataset_dir),
            "ckpt_dir": str(work / "models"),
            "output_dir": str(work / "output"),
            "patch_size": patch,
            "num_workers": num_workers,
            "epoch_length": epoch_length,
            "epochs": 1,
            "device": "$torch.device('cpu')",
            "amp": False,
            "cpu_bf16": cpu_bf16,
        }
    )
    return parser


def bundle_trainer_timing(parser: ConfigParser, warmup: int, iterations: int) -> tuple[float, float]:
    """Seconds per iteration of the bundle's ``SupervisedTrainer`` and seconds of it spent waiting for a batch."""
    # only the training loop itself: no validation, checkpoints or loggers
    parser["train#trainer#train_handlers"] = []
    trainer = parser.get_parsed_content("train#trainer")
    clock = StepClock(trainer.optimizer)
    waits: list[float] = []
    trainer.add_event_handler(Events.GET_BATCH_STARTED, lambda engine: waits.append(-time.perf_counter()))

    def batch_completed(engine) -> None:
        waits[-1] += time.perf_counter()

    trainer.add_event_handler(Events.GET_BATCH_COMPLETED, batch_completed)
    trainer.run()
    clock.close()
    return clock.seconds_per_iteration(warmup, iterations), statistics.fmean(waits[warmup : warmup + iterations])


def bundle_plain_loop_timing(parser: ConfigParser, warmup: int, iterations: int) -> float:
    """Seconds per iteration of a hand-written loop over the bundle's network, loss, optimizer and DataLoader."""
    network = parser.get_parsed_content("network")
    inferer = parser.get_parsed_content("train#inferer")
    loss_fn = parser.get_parsed_content("loss")
    optimizer = parser.get_parsed_content("optimizer")
    loader = iter(parser.get_parsed_content("train#dataloader"))
    network.train()
    clock = StepClock(optimizer)
    for _ in range(warmup + iterations):
        batch = next(loader)
        image, label = torch.as_tensor(batch["image"]), torch.as_tensor(batch["label"])
        optimizer.zero_grad(set_to_none=True)
        loss_fn(inferer(image, network), label).backward()
        optimizer.step()
    clock.close()
    return clock.seconds_per_iteration(warmup, iterations)


def preload_batches(parser: ConfigParser, count: int) -> list[Batch]:
    """``count`` batches of the bundle's training DataLoader, augmented, in memory."""
    batches = []
    for batch in parser.get_parsed_content("train#dataloader"):
        batches.append((torch.as_tensor(batch["image"]), torch.as_tensor(batch["label"])))
        if len(batches) == count:
            return batches
    raise RuntimeError(f"the training DataLoader gave {len(batches)} batches, {count} needed")


# ---------------------------------------------------------------------------------------------------------------
# pytorch-3dunet


def reference_config(
    bundle: str,
    dataset_dir: Path,
    patch: list[int],
    num_workers: int,
    total_iterations: int,
    learning_rate: float,
    weight_decay: float,
    work: Path,
) -> dict[str, Any]:
    """pytorch-3dunet's training config for ``bundle``'s recipe: its example's model, loss, metric, schedule, slice
    builder and augmentations (``_reference.recipe(bundle)``, as the quality benchmark trains it), with this
    benchmark's data, patch, budget and random scaling."""
    from pytorch3dunet.unet3d.config import TorchDevice

    facts = _reference.recipe(bundle)
    stride = [max(1, p // 4) for p in patch]
    slice_builder = {
        **facts["slice_builder"],
        "patch_shape": patch,
        "stride_shape": stride,
        # its sanity check wants at least 64 voxels along Y and X; small smoke-test patches are allowed here
        "skip_shape_check": True,
    }
    never = total_iterations + 1  # validation and image logging happen when the iteration count is a multiple
    return {
        "device": TorchDevice.CPU,
        "model": facts["model"],
        "loss": facts["loss"],
        "optimizer": {"learning_rate": learning_rate, "weight_decay": weight_decay},
        "eval_metric": facts["eval_metric"],
        "lr_scheduler": facts["lr_scheduler"],
        "trainer": {
            "tensorboard_formatter": {"skip_last_target": True},
            "eval_score_higher_is_better": facts["higher_is_better"],
            "checkpoint_dir": str(work / "pytorch3dunet"),
            "validate_after_iters": never,
            "log_after_iters": never,
            "max_num_epochs": total_iterations,
            # its trainer stops once the iteration count (from 1) exceeds this: one more than the budget
            "max_num_iterations": total_iterations - 1,
        },
        "loaders": {
            "dataset": "StandardHDF5Dataset",
            "num_workers": num_workers,
            "raw_internal_path": "raw",
            "label_internal_path": "label",
            # random shifts must stay below the stride (its assertion); the example's 20 suits its 80x170x170 patch
            "random_scale": min(20, min(stride) - 1) if min(stride) > 1 else None,
            "random_scale_probability": 0.1,
            "global_normalization": facts["global_normalization"],
            "train": {
                "file_paths": [str(dataset_dir / "train")],
                "slice_builder": slice_builder,
                "transformer": {"raw": facts["train_raw"], "label": facts["train_label"]},
            },
            "val": {
                "file_paths": [str(dataset_dir / "val")],
                "slice_builder": {**slice_builder, "stride_shape": patch},
                "transformer": {"raw": facts["val_raw"], "label": facts["val_label"]},
            },
        },
    }


def silence_reference_logs() -> None:
    """pytorch-3dunet logs one line per iteration to stdout; keep its warnings only."""
    from pytorch3dunet.unet3d import utils

    for name in ("UNetTrainer", "Dataset", "HDF5Dataset", "ConfigLoader"):
        utils.get_logger(name)  # creates it now, so that its level set here sticks
    for logger in utils.loggers.values():
        logger.setLevel(logging.WARNING)


def reference_trainer_timing(config: dict[str, Any], warmup: int, iterations: int) -> tuple[float, float]:
    """Seconds per iteration of pytorch-3dunet's ``UNetTrainer.fit()`` and seconds of it spent waiting for data."""
    from pytorch3dunet.unet3d.trainer import create_trainer

    torch.manual_seed(SEED)
    trainer = create_trainer(copy.deepcopy(config))  # it pops keys from the config
    batches = TimedBatches(trainer.loaders["train"])
    trainer.loaders["train"] = batches
    clock = StepClock(trainer.optimizer)
    trainer.fit()
    clock.close()
    trainer.writer.close()
    waits = batches.waits[warmup : warmup + iterations]
    return clock.seconds_per_iteration(warmup, iterations), statistics.fmean(waits)


def reference_network(bundle: str) -> torch.nn.Module:
    """pytorch-3dunet's network of ``bundle``'s example (``get_model`` on its ``model`` section)."""
    from pytorch3dunet.unet3d.model import get_model

    torch.manual_seed(SEED)
    return get_model(dict(_reference.recipe(bundle)["model"]))


def reference_logits(network: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The reference network's logits, as its trainer asks for them."""
    return lambda image: network(image, return_logits=True)[1]


# ---------------------------------------------------------------------------------------------------------------
# the run


def measure(args: argparse.Namespace, work: Path, with_reference: bool) -> dict[str, Any]:
    data = write_sample_dataset(args.bundle, work / "data")
    total = args.warmup + args.iterations

    def bundle(num_workers: int) -> ConfigParser:
        set_determinism(seed=SEED)
        return build_bundle(args.bundle, data, args.patch, num_workers, total, work, args.cpu_bf16)

    batches = preload_batches(bundle(0), total)
    parser = bundle(0)
    ours_forward_network = parser.get_parsed_content("network")
    inferer = parser.get_parsed_content("train#inferer")
    loss_fn = parser.get_parsed_content("loss")
    learning_rate = float(parser.get_parsed_content("learning_rate"))
    weight_decay = float(parser.get_parsed_content("weight_decay"))
    patch = list(parser.get_parsed_content("train_patch_size"))
    network_name = type(ours_forward_network).__name__

    peaks = {"float32": matmul_peak_gflops(torch.float32), "bfloat16": matmul_peak_gflops(torch.bfloat16)}
    flops = {"ours": step_flops(ours_forward_network, loss_fn, batches[0])}
    config = None
    if with_reference:
        silence_reference_logs()
        config = reference_config(args.bundle, data, patch, args.num_workers, total, learning_rate, weight_decay, work)
        flops["reference"] = step_flops(reference_logits(reference_network(args.bundle)), loss_fn, batches[0])
    del ours_forward_network, parser

    def ours_trainer() -> tuple[float, float]:
        return bundle_trainer_timing(bundle(args.num_workers), args.warmup, args.iterations)

    def ours_network() -> float:
        parser = bundle(0)
        network = parser.get_parsed_content("network")
        network.train()
        optimizer = parser.get_parsed_content("optimizer")
        return network_step_timing(lambda image: inferer(image, network), loss_fn, optimizer, batches, args.warmup)

    def reference_trainer() -> tuple[float, float]:
        return reference_trainer_timing(config, args.warmup, args.iterations)

    def reference_network_step() -> float:
        network = reference_network(args.bundle)
        network.train()
        optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate, weight_decay=weight_decay)
        return network_step_timing(reference_logits(network), loss_fn, optimizer, batches, args.warmup)

    samples: dict[str, dict[str, list[float]]] = {
        key: {"ours": [], "reference": []} for key in ("trainer", "wait", "plain_loop", "network")
    }
    for repeat in range(args.repeats):
        pairs = [("ours", ours_trainer, ours_network), ("reference", reference_trainer, reference_network_step)]
        if not with_reference:
            pairs = pairs[:1]
        elif repeat % 2:
            pairs.reverse()
        for side, trainer, _ in pairs:
            per_iteration, wait = trainer()
            samples["trainer"][side].append(per_iteration)
            samples["wait"][side].append(wait)
            gc.collect()
        samples["plain_loop"]["ours"].append(
            bundle_plain_loop_timing(bundle(args.num_workers), args.warmup, args.iterations)
        )
        gc.collect()
        for side, _, network_step in pairs:
            samples["network"][side].append(network_step())
            gc.collect()
        print(f"repeat {repeat + 1}/{args.repeats} done", flush=True)
    # the peak again after the steps, in case the machine was busier at the start
    for dtype, name in ((torch.float32, "float32"), (torch.bfloat16, "bfloat16")):
        peaks[name] = max(peaks[name], matmul_peak_gflops(dtype))
    return {"patch": patch, "network": network_name, "peaks": peaks, "flops": flops, "samples": samples}


ROWS = {
    "trainer": "trainer as run (SupervisedTrainer / UNetTrainer)",
    "wait": "  of which waiting for data",
    "plain_loop": "plain loop, same DataLoader",
    "network": "network step, batches in memory",
}


def summarise(result: dict[str, Any], cpu_bf16: bool) -> list[dict[str, Any]]:
    peaks, flops = result["peaks"], result["flops"]
    rows = []
    for key, name in ROWS.items():
        row: dict[str, Any] = {"row": key, "name": name}
        for side in ("ours", "reference"):
            values = result["samples"][key][side]
            row[f"{side}_s"] = statistics.median(values) if values else None
            row[f"{side}_repeats_s"] = values
            if key != "wait" and values and side in flops:
                gflops = flops[side] / row[f"{side}_s"] / 1e9
                row[f"{side}_gflops"] = gflops
                row[f"{side}_share_of_float32_peak"] = gflops / peaks["float32"]
                if side == "ours" and cpu_bf16:
                    row["ours_share_of_bfloat16_peak"] = gflops / peaks["bfloat16"]
        if row["ours_s"] is not None and row["reference_s"] is not None:
            row["ours_over_reference"] = row["ours_s"] / row["reference_s"]
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]], result: dict[str, Any], args: argparse.Namespace) -> None:
    def cell(value: float | None, spec: str, width: int) -> str:
        return f"{'-':>{width}}" if value is None else f"{value:{width}{spec}}"

    def percent(value: float | None) -> float | None:
        return None if value is None else 100 * value

    peaks, flops = result["peaks"], result["flops"]
    print()
    print(
        f"{args.bundle} recipe: {result['network']} f_maps 32 'gcr' 8 groups, BCE + Dice, Adam, "
        f"patch {result['patch']}, batch 1, "
        f"DataLoader workers {args.num_workers}, {args.threads} threads"
    )
    reference = ", reference float32" if "reference" in flops else ""
    print(
        f"precision: ours {'bfloat16 autocast' if args.cpu_bf16 else 'float32'}{reference}; "
        f"median of {args.repeats} repeats of {args.iterations} iterations after {args.warmup} warm-up"
    )
    print(
        f"torch {torch.__version__}, MONAI {monai.__version__}, CPU {platform.processor() or platform.machine()} "
        f"({torch.backends.cpu.get_cpu_capability()})"
    )
    print(
        f"matmul {MATMUL_SIZE}x{MATMUL_SIZE} peak (best of {2 * MATMUL_TRIES}): "
        f"float32 {peaks['float32']:.1f} GFLOP/s, bfloat16 {peaks['bfloat16']:.1f} GFLOP/s"
    )
    step = ", ".join(f"{side} {value / 1e9:.2f} GFLOP" for side, value in flops.items())
    print(f"FLOPs of one training step (forward + backward + loss): {step}")
    if "reference" not in flops:
        print("pytorch-3dunet not measured (not importable)")
    print()
    extra = args.cpu_bf16
    header = (
        f"{'':<50} {'ours s/it':>10} {'ref s/it':>10} {'ours/ref':>9} {'ours GF/s':>10} {'ref GF/s':>10} "
        f"{'ours %f32':>10} {'ref %f32':>10}" + (f" {'ours %bf16':>11}" if extra else "")
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        share = row.get("ours_share_of_float32_peak")
        ref_share = row.get("reference_share_of_float32_peak")
        line = (
            f"{row['name']:<50} {cell(row['ours_s'], '.3f', 10)} {cell(row['reference_s'], '.3f', 10)} "
            f"{cell(row.get('ours_over_reference'), '.3f', 9)} {cell(row.get('ours_gflops'), '.1f', 10)} "
            f"{cell(row.get('reference_gflops'), '.1f', 10)} {cell(percent(share), '.1f', 10)} "
            f"{cell(percent(ref_share), '.1f', 10)}"
        )
        if extra:
            bf16_share = row.get("ours_share_of_bfloat16_peak")
            line += f" {cell(percent(bf16_share), '.1f', 11)}"
        print(line)
    by_key = {row["row"]: row for row in rows}
    trainer, wait, plain = by_key["trainer"], by_key["wait"], by_key["plain_loop"]
    for side in ("ours", "reference"):
        if trainer[f"{side}_s"] is not None:
            share = wait[f"{side}_s"] / trainer[f"{side}_s"]
            print(f"{side}: waiting for data is {100 * share:.1f} % of the trainer step")
    print(f"ours: trainer / plain loop over the same DataLoader {trainer['ours_s'] / plain['ours_s']:.3f}")
    print(f"ours: trainer / network step on batches in memory {trainer['ours_s'] / by_key['network']['ours_s']:.3f}")


def reference_available() -> str | None:
    """None when pytorch-3dunet's trainer and model import, otherwise why not."""
    try:
        import pytorch3dunet.unet3d.model  # noqa: F401
        import pytorch3dunet.unet3d.trainer  # noqa: F401
    except ImportError as error:
        return str(error)
    return None


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--bundle", choices=RECIPES, default="boundary", help="the recipe (bundle) to time")
    cli.add_argument("--iterations", type=int, default=20, help="timed iterations per measurement")
    cli.add_argument("--warmup", type=int, default=3, help="untimed iterations before them (at least 1)")
    cli.add_argument("--repeats", type=int, default=3, help="alternating repeats; the median is reported")
    cli.add_argument("--patch", type=int, nargs=3, default=[32, 96, 96])
    cli.add_argument("--num_workers", type=int, default=1)
    cli.add_argument("--threads", type=int, default=torch.get_num_threads())
    cli.add_argument("--cpu_bf16", action="store_true", help="ours with bfloat16 autocast (the bundles' cpu_bf16)")
    cli.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the figures to OUT")
    args = cli.parse_args()
    for option in ("iterations", "warmup", "repeats", "threads"):
        if getattr(args, option) < 1:
            cli.error(f"--{option} must be at least 1, got {getattr(args, option)}")
    if args.num_workers < 0:
        cli.error(f"--num_workers must be 0 or more, got {args.num_workers}")
    if args.json is not None and not args.json.parent.is_dir():
        cli.error(f"--json {args.json}: the folder {args.json.parent} does not exist")
    torch.set_num_threads(args.threads)
    missing = reference_available()
    if missing is not None:
        print(
            f"pytorch-3dunet is not importable ({missing}); measuring this project only. "
            "Install it with: pip install --no-deps pytorch3dunet==1.9.6"
        )
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args, Path(tmp), with_reference=missing is None)
    rows = summarise(result, args.cpu_bf16)
    print_table(rows, result, args)
    if args.json is not None:
        record = {
            "settings": {
                "bundle": args.bundle,
                "network": result["network"],
                "patch": result["patch"],
                "iterations": args.iterations,
                "warmup": args.warmup,
                "repeats": args.repeats,
                "num_workers": args.num_workers,
                "threads": args.threads,
                "ours_precision": "bfloat16 autocast" if args.cpu_bf16 else "float32",
                "reference_precision": "float32" if missing is None else None,
            },
            "machine": {
                "torch": torch.__version__,
                "monai": monai.__version__,
                "cpu": platform.processor() or platform.machine(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            },
            "matmul_peak_gflops": result["peaks"],
            "step_flops": result["flops"],
            "rows": rows,
        }
        partial = args.json.with_name(args.json.name + ".partial")
        partial.write_text(json.dumps(record, indent=2) + "\n")
        partial.replace(args.json)
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
