from itertools import islice

import pytest
import torch
from ignite.engine import Engine

from unet3d_monai.data import RunSampler


def _first(sampler, count):
    return list(islice(iter(sampler), count))


def test_numbers_follow_iterations_and_ranks():
    assert _first(RunSampler(batch_size=2), 6) == [0, 1, 2, 3, 4, 5]
    # two processes share the run: iteration t of rank r reads (t * 2 + r) * 2 + j
    rank0 = _first(RunSampler(batch_size=2, rank=0, world_size=2), 4)
    rank1 = _first(RunSampler(batch_size=2, rank=1, world_size=2), 4)
    assert rank0 == [0, 1, 4, 5] and rank1 == [2, 3, 6, 7]
    sampler = RunSampler(batch_size=3)
    sampler.set_iteration(4)
    assert _first(sampler, 4) == [12, 13, 14, 15]


def test_a_restored_trainer_reads_the_samples_of_its_next_iteration():
    sampler = RunSampler(batch_size=2)
    loader = torch.utils.data.DataLoader(list(range(1000)), batch_size=2, sampler=sampler)
    seen = []
    trainer = Engine(lambda engine, batch: seen.append(batch.tolist()))
    sampler.attach(trainer)
    trainer.load_state_dict({"iteration": 7, "epoch_length": 5, "max_epochs": 2})
    trainer.run(loader)
    assert trainer.state.iteration == 10
    assert seen == [[14, 15], [16, 17], [18, 19]]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": 1, "rank": 2, "world_size": 2}, r"rank must be in 0\.\.1"),
        ({"batch_size": 1, "world_size": 0}, "world_size must be a positive integer"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RunSampler(**kwargs)
