"""Sample numbers for a whole training run, so that a resumed run reads exactly the samples that come next."""

from __future__ import annotations

from collections.abc import Iterator

import torch.distributed as dist
from ignite.engine import Engine, Events
from torch.utils.data import Sampler

__all__ = ["RunSampler"]


class RunSampler(Sampler[int]):
    """Numbers every sample of a training run: iteration ``t`` of process ``rank`` reads the samples
    ``n = (t * world_size + rank) * batch_size + j`` for ``j < batch_size``.

    Used with :class:`~unet3d_monai.data.ItemSeededDataset` (whose item ``n`` depends only on ``n``), what a
    training iteration reads depends only on the iteration's number: not on the number of DataLoader workers, not
    on which worker prepares it, and not on whether the run was interrupted and resumed before it. The iterator
    never ends (the trainer's ``epoch_length`` says where epochs end), so one DataLoader iterator serves the whole
    run and persistent workers keep prefetching across epochs.

    :meth:`set_iteration` makes the next iterator start at a given iteration; :meth:`attach` does this when the
    trainer starts, after its state was restored from a checkpoint (attach it after the checkpoint loader).
    ``len()`` is undefined (the run has no fixed length); give the trainer its ``epoch_length``.

    Args:
        batch_size: samples per iteration and process (the DataLoader's ``batch_size``).
        rank: this process's rank; None reads it from ``torch.distributed`` when initialised, else 0.
        world_size: number of processes; None reads it from ``torch.distributed`` when initialised, else 1.

    Example::

        sampler = RunSampler(batch_size=2)
        loader = monai.data.DataLoader(ItemSeededDataset(dataset, seed=0), batch_size=2, sampler=sampler)
        sampler.attach(trainer)    # a resumed trainer continues with the samples of its next iteration
    """

    def __init__(self, batch_size: int, rank: int | None = None, world_size: int | None = None) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        self.batch_size = _positive(batch_size, "batch_size")
        self.world_size = _positive(
            world_size if world_size is not None else (dist.get_world_size() if distributed else 1), "world_size"
        )
        self.rank = int(rank if rank is not None else (dist.get_rank() if distributed else 0))
        if not 0 <= self.rank < self.world_size:
            raise ValueError(
                f"rank must be in 0..{self.world_size - 1} for world_size {self.world_size}, got {self.rank}."
            )
        self.start_iteration = 0

    def set_iteration(self, iteration: int) -> None:
        """Start the next iterator with the samples of iteration ``iteration`` (0-based, counted over the run)."""
        if int(iteration) < 0:
            raise ValueError(f"iteration must be non-negative, got {iteration}.")
        self.start_iteration = int(iteration)

    def attach(self, engine: Engine) -> None:
        """Start at the trainer's iteration count each time it starts running (0, or the restored count)."""
        engine.add_event_handler(Events.STARTED, lambda e: self.set_iteration(e.state.iteration))

    def __iter__(self) -> Iterator[int]:
        iteration = self.start_iteration
        while True:
            first = (iteration * self.world_size + self.rank) * self.batch_size
            yield from range(first, first + self.batch_size)
            iteration += 1


def _positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return value
