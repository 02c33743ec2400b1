"""Seconds per training iteration of the boundary recipe on this machine, and the share spent waiting for data.

Builds the boundary bundle's own components (network, loss, optimizer, HDF5 patch dataset and augmentations)
from ``bundles/boundary/train.json`` and compares

- MONAI's ``SupervisedTrainer`` fed by the bundle's DataLoader (what ``python -m monai.bundle run training``
  does), timing how long each iteration waits for its batch, with
- a plain PyTorch loop (forward, loss, backward, step) over the same network on batches already in memory.

Usage::

    python benchmarks/train_step.py [--iterations 20] [--patch 32 96 96] [--num_workers 1] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from ignite.engine import Events
from monai.bundle import ConfigParser
from monai.utils import set_determinism

from unet3d_monai.data.sample import write_sample_dataset

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "boundary" / "train.json"


def build(dataset_dir: Path, patch: list[int], num_workers: int, iterations: int, work: Path) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(str(BUNDLE))
    parser.update(
        {
            "dataset_dir": str(dataset_dir),
            "ckpt_dir": str(work / "models"),
            "output_dir": str(work / "output"),
            "patch_size": patch,
            "num_workers": num_workers,
            "epoch_length": iterations,
            "epochs": 1,
            "device": "$torch.device('cpu')",
            "amp": False,
        }
    )
    return parser


def trainer_timing(parser: ConfigParser, warmup: int) -> tuple[float, float]:
    """Mean seconds per iteration and mean seconds waiting for a batch, after ``warmup`` iterations."""
    # only the training loop itself: no validation, checkpoints or loggers
    parser["train#trainer#train_handlers"] = []
    trainer = parser.get_parsed_content("train#trainer")
    waits, ends = [], []

    def batch_started(engine) -> None:
        waits.append(-time.perf_counter())

    def batch_completed(engine) -> None:
        waits[-1] += time.perf_counter()

    trainer.add_event_handler(Events.GET_BATCH_STARTED, batch_started)
    trainer.add_event_handler(Events.GET_BATCH_COMPLETED, batch_completed)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: ends.append(time.perf_counter()))
    trainer.run()
    n = len(ends)
    per_iter = (ends[-1] - ends[warmup - 1]) / (n - warmup)
    wait = sum(waits[warmup:]) / (n - warmup)
    return per_iter, wait


def plain_loop_timing(parser: ConfigParser, iterations: int, warmup: int) -> float:
    network = parser.get_parsed_content("network")
    loss_fn = parser.get_parsed_content("loss")
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    loader = parser.get_parsed_content("train#dataloader")
    batches = []
    for batch in loader:
        batches.append((torch.as_tensor(batch["image"]), torch.as_tensor(batch["label"])))
        if len(batches) == iterations:
            break
    network.train()
    times = []
    for image, label in batches:
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(network(image), label)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return sum(times[warmup:]) / (len(times) - warmup)


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--iterations", type=int, default=20)
    cli.add_argument("--warmup", type=int, default=3)
    cli.add_argument("--patch", type=int, nargs=3, default=[32, 96, 96])
    cli.add_argument("--num_workers", type=int, default=1)
    cli.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = cli.parse_args()
    torch.set_num_threads(args.threads)
    set_determinism(seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = write_sample_dataset("boundary", work / "data")
        parser = build(data, args.patch, args.num_workers, args.iterations, work)
        per_iter, wait = trainer_timing(parser, args.warmup)
        plain = plain_loop_timing(build(data, args.patch, 0, args.iterations, work), args.iterations, args.warmup)
    print(f"boundary recipe: UNet3D f_maps 32 'gcr', BCE+Dice, patch {args.patch}, batch 1, {args.threads} threads")
    trainer_name = f"SupervisedTrainer (bundle DataLoader, num_workers={args.num_workers})"
    print(f"{trainer_name:<55} {per_iter:8.3f} s/iteration")
    print(f"{'  of which waiting for data':<55} {wait:8.3f} s ({100 * wait / per_iter:.1f} %)")
    print(f"{'plain PyTorch loop (batches already in memory)':<55} {plain:8.3f} s/iteration")
    print(f"{'ratio trainer / plain loop':<55} {per_iter / plain:8.3f}")


if __name__ == "__main__":
    main()
