"""Seconds per training iteration of the boundary recipe on this machine, and the share spent waiting for data.

Builds the boundary bundle's own components (network, loss, optimizer, HDF5 patch dataset and augmentations)
from ``bundles/boundary/train.json`` and compares

- MONAI's ``SupervisedTrainer`` fed by the bundle's DataLoader (what ``python -m monai.bundle run training``
  does), timing how long each iteration waits for its batch, with
- a plain PyTorch loop (forward, loss, backward, step) over the same network on batches already in memory.

Usage::

    python benchmarks/train_step.py [--iterations 20] [--patch 32 96 96] [--num_workers 1] [--threads 2] [--cpu_bf16]
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


def build(
    dataset_dir: Path, patch: list[int], num_workers: int, iterations: int, work: Path, cpu_bf16: bool
) -> ConfigParser:
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
            "cpu_bf16": cpu_bf16,
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


def plain_loop_timing(parser: ConfigParser, iterations: int, warmup: int, preload: bool) -> float:
    """Mean seconds per iteration of a hand-written loop over the bundle's network, loss and DataLoader.

    With ``preload`` the batches are fetched before timing (the compute floor); otherwise each iteration takes
    its batch from the DataLoader as the trainer does.
    """
    network = parser.get_parsed_content("network")
    inferer = parser.get_parsed_content("train#inferer")
    loss_fn = parser.get_parsed_content("loss")
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    loader = iter(parser.get_parsed_content("train#dataloader"))

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        batch = next(loader)
        return torch.as_tensor(batch["image"]), torch.as_tensor(batch["label"])

    batches = [next_batch() for _ in range(iterations)] if preload else None
    network.train()
    times = []
    start = time.perf_counter()
    for i in range(iterations):
        image, label = batches[i] if preload else next_batch()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(inferer(image, network), label)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
    return sum(times[warmup:]) / (len(times) - warmup)


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--iterations", type=int, default=20)
    cli.add_argument("--warmup", type=int, default=3)
    cli.add_argument("--patch", type=int, nargs=3, default=[32, 96, 96])
    cli.add_argument("--num_workers", type=int, default=1)
    cli.add_argument("--threads", type=int, default=torch.get_num_threads())
    cli.add_argument("--cpu_bf16", action="store_true", help="bfloat16 autocast, as the bundles' --cpu_bf16 true")
    args = cli.parse_args()
    torch.set_num_threads(args.threads)
    set_determinism(seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = write_sample_dataset("boundary", work / "data")
        parser = build(data, args.patch, args.num_workers, args.iterations, work, args.cpu_bf16)
        per_iter, wait = trainer_timing(parser, args.warmup)
        parser = build(data, args.patch, args.num_workers, args.iterations, work, args.cpu_bf16)
        plain = plain_loop_timing(parser, args.iterations, args.warmup, preload=False)
        parser = build(data, args.patch, 0, args.iterations, work, args.cpu_bf16)
        floor = plain_loop_timing(parser, args.iterations, args.warmup, preload=True)
    precision = "bfloat16 autocast" if args.cpu_bf16 else "float32"
    print(f"boundary recipe: UNet3D f_maps 32 'gcr', BCE+Dice, patch {args.patch}, batch 1, {args.threads} threads")
    print(f"precision: {precision}, DataLoader workers: {args.num_workers}")
    rows = [
        ("SupervisedTrainer (the bundle)", per_iter),
        ("  of which waiting for data", wait),
        ("plain PyTorch loop, same DataLoader", plain),
        ("plain PyTorch loop, batches already in memory", floor),
    ]
    for name, value in rows:
        print(f"{name:<50} {value:8.3f} s/iteration")
    print(f"{'data waiting share of the trainer step':<50} {100 * wait / per_iter:8.1f} %")
    print(f"{'trainer / plain loop with the same DataLoader':<50} {per_iter / plain:8.3f}")
    print(f"{'trainer / compute floor':<50} {per_iter / floor:8.3f}")


if __name__ == "__main__":
    main()
