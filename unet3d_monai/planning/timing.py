"""Time of one training step, measured on a real forward and backward pass, and the time a step may take.

On a CPU, a patch as large as the memory allows can be several times slower per iteration than the fixed defaults
(32x96x96, batch 1 in 3D; 128x128, batch 8 in 2D) without training better; the plan therefore also keeps a CPU
training step within a time target: by default the measured time of a step at those defaults, i.e. no slower
than them (``--step_seconds`` raises or sets it). On CUDA, by default, only memory limits the patch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["REFERENCE_STEP", "StepTimeLimit", "parse_step_seconds", "training_step_seconds"]

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
) -> float:
    """Seconds one training step of ``network`` takes at ``patch_size`` and ``batch_size``, measured by running it.

    A random batch ``(batch_size, in_channels, *patch_size)`` goes forward and backward (the loss is the mean square
    of the logits) after ``warmup_steps`` untimed steps (the first pass at a new size builds kernels and caches);
    on CUDA the device is synchronised before reading ``clock``. The network's gradients are cleared afterwards.

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
        synchronize()
        start = clock()
        step()
        synchronize()
        return float(clock() - start)
    finally:
        network.zero_grad(set_to_none=True)


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
            f"--step_seconds {value!r} must be a positive number of seconds, 'auto' (on CPU: no slower than a step at "
            "the fixed default patch) or 'none' (no time limit)."
        )
    return seconds


class StepTimeLimit:
    """The time a training step may take, and the check of a step against it.

    ``auto`` on a CPU is the measured time of the reference step (:data:`REFERENCE_STEP`); a step that holds no more
    voxels than the reference is accepted without being timed (the plan stays deterministic for small data). A
    number is a target in seconds, every step checked by timing it.

    Args:
        target: seconds, or ``"auto"``.
        step_time: ``step_time(patch, batch)``: seconds of one training step (measured, or a model of it).
        reference: the reference step ``(patch, batch)`` (only used with ``"auto"``).

    Example::

        limit = StepTimeLimit.create("auto", "cpu", 3, lambda patch, batch: measure(patch, batch))
        fits, reason = limit.check([48, 128, 128], 1)   # (False, "time: step 7.9 s > 2.9 s target (...)")
    """

    def __init__(
        self,
        target: float | str,
        step_time: Callable[[Sequence[int], int], float],
        reference: tuple[Sequence[int], int],
    ) -> None:
        self.auto = target == "auto"
        self._target = None if self.auto else float(target)
        self.step_time = step_time
        self.reference_patch = [int(p) for p in reference[0]]
        self.reference_batch = int(reference[1])
        self._times: dict[tuple[tuple[int, ...], int], float] = {}

    @classmethod
    def create(
        cls,
        step_seconds: float | int | str | None,
        device: torch.device | str,
        spatial_dims: int,
        step_time: Callable[[Sequence[int], int], float],
        lower: Sequence[int] | None = None,
    ) -> StepTimeLimit | None:
        """The limit of ``step_seconds`` (see :func:`parse_step_seconds`) on ``device``; None when there is none:
        ``"none"``, or ``"auto"`` on CUDA (memory alone limits the patch there). ``lower``: the network's smallest
        input, which the reference patch is raised to."""
        parsed = parse_step_seconds(step_seconds)
        if parsed is None or (parsed == "auto" and torch.device(device).type != "cpu"):
            return None
        patch, batch = REFERENCE_STEP[3 if spatial_dims == 3 else 2]
        if lower is not None:
            patch = tuple(max(p, int(m)) for p, m in zip(patch, lower))
        return cls(parsed, step_time, (patch, batch))

    def seconds(self, patch: Sequence[int], batch: int) -> float:
        """Seconds of one step at ``patch`` and ``batch`` (timed once per size)."""
        key = (tuple(int(p) for p in patch), int(batch))
        if key not in self._times:
            self._times[key] = float(self.step_time(key[0], key[1]))
        return self._times[key]

    @property
    def reference_voxels(self) -> int:
        return math.prod(self.reference_patch) * self.reference_batch

    @property
    def target(self) -> float:
        """The target in seconds (``auto``: the reference step, timed)."""
        if self._target is None:
            self._target = self.seconds(self.reference_patch, self.reference_batch)
        return self._target

    def describe_target(self) -> str:
        if self.auto:
            batch = f" batch {self.reference_batch}" if self.reference_batch > 1 else ""
            return f"{self.target:.1f} s target, a {'x'.join(map(str, self.reference_patch))}{batch} step"
        return f"{self.target:.1f} s target (--step_seconds)"

    def check(self, patch: Sequence[int], batch: int) -> tuple[bool, str]:
        """Whether a step at ``patch`` and ``batch`` is within the target, and why."""
        voxels = math.prod(int(p) for p in patch) * int(batch)
        if self.auto and voxels <= self.reference_voxels:
            return True, f"time: {voxels} voxels per step, no more than the fixed default's {self.reference_voxels}"
        seconds = self.seconds(patch, batch)
        fits = seconds <= self.target
        return fits, f"time: step {seconds:.1f} s {'<=' if fits else '>'} {self.describe_target()}"

    def to_dict(self) -> dict[str, object]:
        """The target and every step timed (for the plan's record)."""
        return {
            "target_seconds": self._target,
            "target_source": "auto" if self.auto else "--step_seconds",
            "reference_step": {"patch": self.reference_patch, "batch": self.reference_batch},
            "measured_seconds": [
                {"patch": list(patch), "batch": batch, "seconds": round(seconds, 4)}
                for (patch, batch), seconds in self._times.items()
            ],
        }
