"""The global random states of a process (torch, numpy, Python ``random``) as a checkpointable object."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["RandomStates"]

logger = logging.getLogger(__name__)


class RandomStates:
    """``state_dict()`` / ``load_state_dict()`` of the process-wide random generators, for checkpoints.

    Covers torch's CPU generator and, once CUDA is initialised, every CUDA device's generator; numpy's global
    ``RandomState``; and Python's ``random``. Put it in a checkpoint's ``save_dict`` (the training bundles'
    checkpointer adds it itself) so that a resumed run continues every random sequence the training step draws
    from (dropout, a transform using the global generators) where the interrupted run left it. The state holds
    only tensors, numbers and tuples, so it loads with ``torch.load(..., weights_only=True)``.

    Example::

        states = RandomStates()
        saved = states.state_dict()
        a = torch.rand(3)
        states.load_state_dict(saved)
        assert torch.equal(torch.rand(3), a)
    """

    def state_dict(self) -> dict[str, Any]:
        algorithm, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
        return {
            "torch": torch.get_rng_state(),
            "torch_cuda": list(cuda),
            "numpy": {
                "algorithm": str(algorithm),
                "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                "position": int(position),
                "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached_gaussian),
            },
            "python": random.getstate(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8).cpu())
        cuda = [torch.as_tensor(s, dtype=torch.uint8).cpu() for s in state.get("torch_cuda", [])]
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        elif cuda:
            logger.warning(
                f"the checkpoint holds the random states of {len(cuda)} CUDA devices, this process sees "
                f"{torch.cuda.device_count() if torch.cuda.is_available() else 0}: CUDA's generators are not restored."
            )
        numpy_state = state["numpy"]
        np.random.set_state(
            (
                numpy_state["algorithm"],
                np.asarray(torch.as_tensor(numpy_state["keys"]).cpu().numpy(), dtype=np.uint32),
                int(numpy_state["position"]),
                int(numpy_state["has_gauss"]),
                float(numpy_state["cached_gaussian"]),
            )
        )
        version, internal, gauss = state["python"]
        random.setstate((int(version), tuple(int(v) for v in internal), gauss))
