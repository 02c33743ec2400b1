"""Cost of one training step, and the cost a step may have.

On a CPU, a patch as large as the memory allows can be several times slower per iteration than the fixed defaults
(32x96x96, batch 1 in 3D; 128x128, batch 8 in 2D) without training better; the plan therefore also keeps a CPU
training step within a target:

- ``auto`` (the default): no more voxels per step than a step at the fixed defaults, and no more than 10% more
  floating-point operations than that step run by the bundle's network with its own pooling. The operations are
  counted by :mod:`torch.utils.flop_counter` on the meta device: nothing is computed, so the plan does not depend on
  what else the machine is doing; and a network planned with other pooling (none along a coarse z, say), which does
  more work per voxel, is held to the same work per step as the fixed defaults.
- a number of seconds (``--step_seconds``): each candidate step is timed on the device.

On CUDA, by default, only memory limits the patch.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "REFERENCE_STEP",
    "WORK_TOLERANCE",
    "StepTimeLimit",
    "parse_step_seconds",
    "training_step_flops",
    "training_step_seconds",
]

#: how much more work than the reference step a step may do (``auto``): patch sizes move in steps of 2 to the number
#: of pooling levels, so a strict bound would cut a whole step (up to a sixth of the patch) for a few percent of work
WORK_TOLERANCE = 1.1
#: the fixed default step per number of spatial dimensions: (patch, batch)
REFERENCE_STEP: dict[int, tuple[tuple[int, ...], int]] = {3: ((32, 96, 96), 1), 2: ((128, 128), 8)}
_OFF = ("none", "off", "false")


def training_step_seconds(
    network: nn.Module,
    patch_size: Sequence[int],
    batch_size: int,
    device: torch.device | str,
    warmup_steps: int = 1,
    clock: Callable[[], float] = time.perf_counter,
    repeats: int = 1,
) -> float:
    """Seconds one training step of ``network`` takes at ``patch_size`` and ``batch_size``, measured by running it.

    A random batch ``(batch_size, in_channels, *patch_size)`` goes forward and backward (the loss is the mean square
    of the logits) after ``warmup_steps`` untimed steps (the first pass at a new size builds kernels and caches);
    on CUDA the device is synchronised before reading ``clock``. With ``repeats`` > 1 the fastest of that many timed
    steps is returned (other work on a shared machine only ever slows a step down). The network's gradients are
    cleared afterwards.

    Example::

        training_step_seconds(UNet3D(1, 1, f_maps=32), (32, 96, 96), 1, "cpu")   # e.g. 2.9
    """
    device = torch.device(device)
    network = network.to(device).train()
    generator = torch.Generator(device=device.type).manual_seed(0)
    x = torch.randn((int(batch_size), network.in_channels, *patch_size), generator=generator, device=device)

    def step() -> None:
        network(x).square().mean().backward()
        network.zero_grad(set_to_none=True)

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    try:
        for _ in range(int(warmup_steps)):
            step()
        fastest = math.inf
        for _ in range(max(1, int(repeats))):
            synchronize()
            start = clock()
            step()
            synchronize()
            fastest = min(fastest, float(clock() - start))
        return fastest
    finally:
        network.zero_grad(set_to_none=True)


def training_step_flops(network: nn.Module, patch_size: Sequence[int], batch_size: int) -> int:
    """Floating-point operations of one training step (forward and backward) of ``network`` at ``patch_size`` and
    ``batch_size``, counted by :class:`torch.utils.flop_counter.FlopCounterMode` on a copy of the network on the meta
    device: no memory is allocated and nothing is computed, so the count is exact and the same on every machine.

    Example::

        training_step_flops(UNet3D(1, 1, f_maps=32), (32, 96, 96), 1)   # 399844048896, about 400 GFLOP
    """
    meta = copy.deepcopy(network).to("meta").train()
    x = torch.empty((int(batch_size), network.in_channels, *(int(p) for p in patch_size)), device="meta")
    with FlopCounterMode(display=False) as counter:
        meta(x).square().mean().backward()
    return int(counter.get_total_flops())


def parse_step_seconds(value: float | int | str | None) -> float | str | None:
    """``--step_seconds``: ``"auto"`` (or None), a positive number of seconds, or ``"none"`` (no time limit; returned
    as None).

    Raises:
        ValueError: anything else, in one sentence.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return "auto"
    if isinstance(value, str) and value.strip().lower() in _OFF:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"--step_seconds {value!r} must be a positive number of seconds, 'auto' (on CPU: no more work per step "
            "than the fixed defaults' step) or 'none' (no time limit)."
        )
    return seconds


class StepTimeLimit:
    """The cost a training step may have, and the check of a step against it.

    ``auto`` (on a CPU): a step is within the target when it holds no more voxels than the reference step, the fixed
    defaults' step (:data:`REFERENCE_STEP`), and does at most :data:`WORK_TOLERANCE` times the floating-point
    operations of that step run by the reference network (the bundle's network with its own pooling). For the bundle's
    own network the voxels decide; a network planned with other pooling may do more work per voxel, and then the
    operations decide. A number is a target in seconds, and every step is checked by timing it.

    Args:
        target: seconds, or ``"auto"``.
        step_cost: ``step_cost(patch, batch)``: the planned network's step, in operations (``"auto"``) or seconds.
        reference: the reference step ``(patch, batch)`` (only used with ``"auto"``).
        reference_cost: ``reference_cost(patch, batch)``: the reference network's step in operations; None: the
            planned network is the reference network.

    Example::

        limit = StepTimeLimit.create("auto", "cpu", 3, lambda patch, batch: training_step_flops(net, patch, batch))
        fits, reason = limit.check([48, 128, 128], 1)   # (False, "compute: 786432 voxels, 1066.3 GFLOP ...")
    """

    def __init__(
        self,
        target: float | str,
        step_cost: Callable[[Sequence[int], int], float],
        reference: tuple[Sequence[int], int],
        reference_cost: Callable[[Sequence[int], int], float] | None = None,
    ) -> None:
        self.auto = target == "auto"
        self._target = None if self.auto else float(target)
        self.step_cost = step_cost
        self.reference_cost = reference_cost
        self.reference_patch = [int(p) for p in reference[0]]
        self.reference_batch = int(reference[1])
        self._costs: dict[tuple[tuple[int, ...], int], float] = {}

    @classmethod
    def create(
        cls,
        step_seconds: float | int | str | None,
        device: torch.device | str,
        spatial_dims: int,
        step_cost: Callable[[Sequence[int], int], float],
        lower: Sequence[int] | None = None,
        reference_cost: Callable[[Sequence[int], int], float] | None = None,
    ) -> StepTimeLimit | None:
        """The limit of ``step_seconds`` (see :func:`parse_step_seconds`) on ``device``; None when there is none:
        ``"none"``, or ``"auto"`` on CUDA (memory alone limits the patch there). ``step_cost`` gives operations for
        ``"auto"`` and seconds for a number. The reference patch is raised to ``lower`` (the reference network's
        smallest input)."""
        parsed = parse_step_seconds(step_seconds)
        if parsed is None or (parsed == "auto" and torch.device(device).type != "cpu"):
            return None
        patch, batch = REFERENCE_STEP[3 if spatial_dims == 3 else 2]
        if lower is not None:
            patch = tuple(max(p, int(m)) for p, m in zip(patch, lower))
        return cls(parsed, step_cost, (patch, batch), reference_cost)

    def cost(self, patch: Sequence[int], batch: int) -> float:
        """The planned network's step at ``patch`` and ``batch``: operations (``auto``) or seconds (measured once
        per size)."""
        key = (tuple(int(p) for p in patch), int(batch))
        if key not in self._costs:
            self._costs[key] = float(self.step_cost(key[0], key[1]))
        return self._costs[key]

    @property
    def target(self) -> float:
        """The target: operations of the reference step (``auto``) or seconds."""
        if self._target is None:
            if self.reference_cost is None:
                self._target = self.cost(self.reference_patch, self.reference_batch)
            else:
                self._target = float(self.reference_cost(tuple(self.reference_patch), self.reference_batch))
        return self._target

    @property
    def reference_voxels(self) -> int:
        return math.prod(self.reference_patch) * self.reference_batch

    def load(self, patch: Sequence[int], batch: int) -> float:
        """The step at ``patch`` and ``batch`` as a share of the target (at most 1: within it); it grows about as the
        step's voxels, which guides the shrinking of a patch or batch."""
        if not self.auto:
            return self.cost(patch, batch) / self.target
        voxels = math.prod(int(p) for p in patch) * int(batch)
        return max(voxels / self.reference_voxels, self.cost(patch, batch) / (WORK_TOLERANCE * self.target))

    def check(self, patch: Sequence[int], batch: int) -> tuple[bool, str]:
        """Whether a step at ``patch`` and ``batch`` is within the target, and why."""
        fits = self.load(patch, batch) <= 1.0
        cost = self.cost(patch, batch)
        if self.auto:
            voxels = math.prod(int(p) for p in patch) * int(batch)
            batch_text = f" batch {self.reference_batch}" if self.reference_batch > 1 else ""
            pooling = "" if self.reference_cost is None else " with the bundle's pooling"
            return fits, (
                f"compute: {voxels} voxels, {cost / 1e9:.1f} GFLOP per step, {'within' if fits else 'over'} the "
                f"fixed defaults' {'x'.join(map(str, self.reference_patch))}{batch_text} step{pooling} "
                f"({self.reference_voxels} voxels, {self.target / 1e9:.1f} GFLOP +{WORK_TOLERANCE - 1:.0%})"
            )
        return fits, f"time: step {cost:.1f} s {'<=' if fits else '>'} {self.target:.1f} s target (--step_seconds)"

    def to_dict(self) -> dict[str, object]:
        """The target and every step measured (for the plan's record)."""
        if self.auto:
            return {
                "target_flops": self._target,
                "target_source": "auto",
                "reference_step": {
                    "patch": self.reference_patch,
                    "batch": self.reference_batch,
                    "network": "the planned network" if self.reference_cost is None else "the bundle's",
                },
                "counted_flops": [
                    {"patch": list(patch), "batch": batch, "flops": int(flops)}
                    for (patch, batch), flops in self._costs.items()
                ],
            }
        return {
            "target_seconds": self._target,
            "target_source": "--step_seconds",
            "measured_seconds": [
                {"patch": list(patch), "batch": batch, "seconds": round(seconds, 4)}
                for (patch, batch), seconds in self._costs.items()
            ],
        }
