import random

import numpy as np
import torch

from unet3d_monai.handlers import RandomStates


def _draw():
    return torch.rand(4), np.random.rand(3), np.random.normal(), random.random()


def test_random_states_round_trip_through_a_safe_checkpoint(tmp_path):
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    _draw()
    np.random.normal()  # leaves a cached Gaussian in numpy's state
    torch.save({"random_states": RandomStates().state_dict()}, tmp_path / "state.pt")
    expected = _draw()
    for _ in range(5):
        _draw()
    RandomStates().load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True)["random_states"])
    got = _draw()
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1]) and got[2] == expected[2] and got[3] == expected[3]
