"""CPU time per training batch of the boundary recipe's data pipeline, this project's against pytorch-3dunet's.

Both loaders run in this process with one thread (``num_workers=0``), on the same sample HDF5 files, patch
32x96x96, batch 1, with their augmentations: the CPU seconds a loader worker spends per batch, which it takes from
the training threads on a machine with few cores. CPU time, not wall-clock time, so that other work on the machine
changes it little.

Usage::

    python benchmarks/loader_cpu.py [--batches 60] [--repeats 3]

pytorch-3dunet is optional (``pip install --no-deps pytorch3dunet==1.9.6``); without it only this project's loader
is measured.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
import train_step


def endless(loader: Iterable) -> Iterator:
    """The loader's batches, epoch after epoch (pytorch-3dunet's loader ends with its slices)."""
    while True:
        yield from loader


def cpu_seconds_per_batch(loader: Iterable, batches: int) -> float:
    batch_iterator = endless(loader)
    next(batch_iterator)  # start-up (opening files, building slices) is not per batch
    start = time.process_time()
    for _ in range(batches):
        next(batch_iterator)
    return (time.process_time() - start) / batches


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--batches", type=int, default=60, help="batches timed per run")
    cli.add_argument("--repeats", type=int, default=3, help="runs per loader")
    args = cli.parse_args()
    torch.set_num_threads(1)
    patch = [32, 96, 96]
    reference = importlib.util.find_spec("pytorch3dunet") is not None
    with tempfile.TemporaryDirectory(prefix="loader_cpu_") as scratch:
        work = Path(scratch)
        data = train_step.write_sample_dataset("boundary", work / "data")
        figures: dict[str, list[float]] = {"this project": [], "pytorch-3dunet": []}
        for _ in range(args.repeats):
            parser = train_step.build_bundle(data, patch, 0, args.batches + 1, work, False)
            loader = parser.get_parsed_content("train#dataloader")
            figures["this project"].append(cpu_seconds_per_batch(loader, args.batches))
            if reference:
                from pytorch3dunet.datasets.utils import get_train_loaders

                train_step.silence_reference_logs()
                config = train_step.reference_config(data, patch, 0, args.batches + 1, 1e-3, 1e-5, work)
                loader = get_train_loaders(copy.deepcopy(config))["train"]
                figures["pytorch-3dunet"].append(cpu_seconds_per_batch(loader, args.batches))
    print(f"CPU seconds per training batch (patch {'x'.join(map(str, patch))}, batch 1, one thread, in-process)")
    for name, values in figures.items():
        if values:
            runs = ", ".join(f"{v:.3f}" for v in values)
            print(f"  {name:15s} mean {statistics.fmean(values):.3f}  (runs: {runs})")
        else:
            print(f"  {name:15s} not measured (pip install --no-deps pytorch3dunet==1.9.6)")


if __name__ == "__main__":
    main()
