"""The training plan: patch, pooling, batch, normalisation, voxel size and windows chosen from a fingerprint.

Each entry is either set by the user (kept as given) or planned (``"auto"``, the training bundles' default):

- ``voxel_size``: the median voxel size of the training volumes; recorded with the weights so that prediction
  resamples inputs of another voxel size to it.
- ``pool_kernel_size``: per level, an axis is pooled by 2 unless its voxels are more than 4 times as long as the
  finest axis' (nnU-Net uses 2; on stacks with z 8 times coarser than y/x, 2 scored a little below pooling every
  axis, and 4 level with it), or the smallest volume has 1 voxel left along it: a stack with z 8 times coarser than
  y/x pools only y/x at the first level, then all axes.
- ``patch_size``: as large as fits the memory budget, measured by running one training step
  (:func:`~unet3d_monai.planning.memory.training_step_bytes`), never larger than the smallest training volume
  (hence the median one); with fewer than 8 training volumes, not the whole volume either: the axes longer than the
  fixed default patch are cut to 3/4 of the volume, so that random crops still vary what the network sees. While it
  does not fit, the axis longest relative to the median volume is shortened, so that the patch keeps the median
  volume's aspect in physical units. On a CPU, a training step must also stay within a target (``step_seconds``,
  :class:`~unet3d_monai.planning.timing.StepTimeLimit`; by default no more voxels than a step at the fixed defaults,
  32x96x96 in 3D, 128x128 batch 8 in 2D, and at most 10% more floating-point operations than that step run with the
  bundle's own pooling); the patch is shortened the same way until it does.
- ``batch_size``: 1 when the patch is limited by memory or time; when it is limited by the volumes, as many patches as
  fit the budget (and, on a CPU, the step-time target), at most 8 and at most 5% of the training voxels per batch.
- ``normalization``: ``percentile`` (clipping to the 0.5-99.5 percentile range) when the intensity range is more
  than 3 times the 0.5-99.5 percentile range (outliers: hot pixels, saturated spots), else ``standardize``.
- ``val_roi_size``: the validation window (and, through the model record, the prediction window): the patch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from unet3d_monai.data.normalize import NormalizeMode
from unet3d_monai.io.voxel_size import check_voxel_size
from unet3d_monai.networks.unet import pool_kernels_per_level
from unet3d_monai.planning.fingerprint import DatasetFingerprint
from unet3d_monai.planning.memory import memory_budget, training_step_bytes
from unet3d_monai.planning.segmentation_choice import planned_segmenter
from unet3d_monai.planning.timing import (
    REFERENCE_STEP,
    StepTimeLimit,
    parse_step_seconds,
    training_step_flops,
    training_step_seconds,
)
from unet3d_monai.segmentation.segmenter import Segmenter

__all__ = ["AUTO", "PlanEntry", "TrainingPlan", "is_auto", "make_plan", "plan_pooling"]

logger = logging.getLogger(__name__)

AUTO = "auto"
MAX_BATCH_SIZE = 8
BATCH_DATASET_SHARE = 0.05
OUTLIER_RANGE_RATIO = 3.0
MAX_MEASUREMENTS = 6
TIMED_REPEATS = 2
FEW_VOLUMES = 8
POOL_SPACING_RATIO = 4.0
CROP_SHARE = 0.75


def is_auto(value: object) -> bool:
    """Whether an option is left to the plan (``"auto"`` or None)."""
    return value is None or (isinstance(value, str) and value.lower() == AUTO)


@dataclass
class PlanEntry:
    """One planned value, why, and whether the user set it (``source`` ``"set"``) or the plan chose it."""

    value: Any
    reason: str
    source: str = "planned"


@dataclass
class TrainingPlan:
    """The plan: one :class:`PlanEntry` per option, the memory figures and the fingerprint it came from.

    Example::

        plan = make_plan(compute_fingerprint("data"), UNet3D(1, 1, f_maps=32), device="cpu")
        print(plan.table())
        network = plan.network(UNet3D(1, 1, f_maps=32))   # with the planned pooling
    """

    entries: dict[str, PlanEntry]
    memory: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] | None = None
    timing: dict[str, Any] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        """The value of entry ``name``."""
        return self.entries[name].value

    @property
    def patch_size(self) -> list[int]:
        return list(self.value("patch_size"))

    @property
    def batch_size(self) -> int:
        return int(self.value("batch_size"))

    @property
    def normalization(self) -> str:
        return str(self.value("normalization"))

    @property
    def voxel_size(self) -> list[float] | None:
        value = self.value("voxel_size")
        return None if value is None else [float(v) for v in value]

    @property
    def pool_kernel_size(self) -> Any:
        return self.value("pool_kernel_size")

    @property
    def val_roi_size(self) -> list[int]:
        return list(self.value("val_roi_size"))

    def segmenter(self, mode: str, threshold: float = 0.5, min_distance: int = 2) -> Segmenter:
        """The :class:`Segmenter` of ``mode`` with its seed distance derived from the training objects (see
        :func:`~unet3d_monai.planning.segmentation_choice.planned_segmenter`): what validation scores with while
        training, and where the choice on validation starts when training ends."""
        return planned_segmenter(mode, self.fingerprint, threshold=threshold, min_distance=min_distance)

    def network(self, template: nn.Module) -> nn.Module:
        """``template`` rebuilt with the planned pooling (the same network when it already pools so, or when it
        takes no ``pool_kernel_size``)."""
        arguments = getattr(template, "arguments", None)
        pools = self.pool_kernel_size
        if not isinstance(arguments, dict) or "pool_kernel_size" not in arguments or pools is None:
            return template
        levels = len(getattr(template, "f_maps", [])) - 1
        dims = int(getattr(template, "spatial_dims", 3))
        if arguments["pool_kernel_size"] == pools or (
            levels > 0
            and pool_kernels_per_level(arguments["pool_kernel_size"], dims, levels)
            == pool_kernels_per_level(pools, dims, levels)
        ):
            return template
        return type(template)(**{**arguments, "pool_kernel_size": pools})

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON (the model record's ``plan``)."""
        return {
            "entries": {name: vars(entry).copy() for name, entry in self.entries.items()},
            "memory": dict(self.memory),
            "timing": dict(self.timing),
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainingPlan:
        entries = {name: PlanEntry(**entry) for name, entry in values["entries"].items()}
        return cls(entries, dict(values.get("memory", {})), values.get("fingerprint"), dict(values.get("timing", {})))

    def table(self) -> str:
        """One short table: entry, value, reason (``(set)`` marks values the user gave)."""
        rows = [
            (name, _format(entry.value), entry.reason + (" (set)" if entry.source == "set" else ""))
            for name, entry in self.entries.items()
        ]
        widths = [max(len(r[i]) for r in [("entry", "value", "reason"), *rows]) for i in range(2)]
        lines = [f"{'entry':<{widths[0]}}  {'value':<{widths[1]}}  reason"]
        lines += [f"{n:<{widths[0]}}  {v:<{widths[1]}}  {r}" for n, v, r in rows]
        return "\n".join(lines)


def _format(value: Any) -> str:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) for v in value):
        return " ".join("x".join(str(v) for v in level) for level in value)
    if isinstance(value, (list, tuple)):
        return "x".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def plan_pooling(
    voxel_size: Sequence[float] | None, sizes: Sequence[int], num_pools: int
) -> tuple[list[list[int]], str]:
    """Pooling kernels per level from the voxel size and the smallest volume's ``sizes``; and the reason.

    An axis is pooled by 2 at a level unless its (pooled) voxels are more than :data:`POOL_SPACING_RATIO` times as
    long as the finest axis', or it has fewer than 2 voxels left (in the smallest volume).

    Example:
        >>> plan_pooling([8.0, 1.0, 1.0], [64, 256, 256], 3)[0]
        [[1, 2, 2], [2, 2, 2], [2, 2, 2]]
    """
    spacing = [float(s) for s in (voxel_size or [1.0] * len(sizes))]
    sizes = [int(s) for s in sizes]
    pools = []
    coarse = [0] * len(sizes)
    short = [0] * len(sizes)
    for _ in range(num_pools):
        finest = min(spacing)
        kernel = []
        for axis, (length, size) in enumerate(zip(spacing, sizes)):
            too_coarse = length > POOL_SPACING_RATIO * finest * (1 + 1e-6)
            too_short = size < 2
            coarse[axis] += too_coarse
            short[axis] += too_short and not too_coarse
            kernel.append(1 if too_coarse or too_short else 2)
        pools.append(kernel)
        spacing = [s * k for s, k in zip(spacing, kernel)]
        sizes = [n // k for n, k in zip(sizes, kernel)]
    ratio = max(voxel_size) / min(voxel_size) if voxel_size else 1.0
    if not any(coarse) and not any(short):
        return pools, f"voxel size ratio {ratio:.1f} <= {POOL_SPACING_RATIO:g}: pool every axis by 2"
    reasons = []
    if any(coarse):
        reasons.append(
            f"voxel size ratio {ratio:.1f} > {POOL_SPACING_RATIO:g}: levels without pooling per axis {coarse}"
            " while an axis' voxels are that much longer than the finest"
        )
    if any(short):
        reasons.append(f"levels without pooling per axis {short} where the smallest volume has 1 voxel left")
    return pools, "; ".join(reasons)


def _measure(network: nn.Module, patch: Sequence[int], batch: int, device: torch.device) -> int:
    try:
        return training_step_bytes(network, tuple(patch), batch, device)
    except torch.OutOfMemoryError:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return math.inf


def _shrink(
    patch: list[int], median: Sequence[float], spacing: Sequence[float], lower: Sequence[int], steps: Sequence[int]
) -> list[int] | None:
    """``patch`` shortened along the axis longest relative to the median volume; None when no axis can shrink."""
    order = sorted(
        (a for a in range(len(patch)) if patch[a] > lower[a]),
        key=lambda a: (patch[a] / median[a], patch[a] * spacing[a]),
        reverse=True,
    )
    if not order:
        return None
    axis = order[0]
    step = steps[axis]
    shortened = max(step, round(patch[axis] * 0.9) // step * step)
    if shortened >= patch[axis]:
        shortened = patch[axis] - step
    patch = list(patch)
    patch[axis] = max(int(lower[axis]), int(shortened))
    return patch


def _room_for_crops(
    patch: list[int], smallest: Sequence[int], lower: Sequence[int], steps: Sequence[int], spatial_dims: int
) -> list[int]:
    """``patch`` with every axis on which the smallest volume is longer than the fixed default patch cut to
    :data:`CROP_SHARE` of that volume (a multiple of the pooling ``steps``, not below the default patch), so that a
    random crop can still move along it."""
    default = REFERENCE_STEP[spatial_dims][0]
    cropped = list(patch)
    for axis, (size, step, floor) in enumerate(zip(smallest, steps, default)):
        if size > floor:
            share = int(CROP_SHARE * size) // step * step
            cropped[axis] = min(patch[axis], max(floor, share, int(lower[axis])))
    return cropped


def make_plan(
    fingerprint: DatasetFingerprint,
    network: nn.Module,
    device: torch.device | str = "cpu",
    memory_budget_bytes: int | float | str | None = None,
    patch_size: Sequence[int] | str | None = AUTO,
    batch_size: int | str | None = AUTO,
    normalization: str | None = AUTO,
    voxel_size: Sequence[float] | str | None = AUTO,
    pool_kernel_size: Any = AUTO,
    step_seconds: float | str | None = AUTO,
    step_timer: Callable[[nn.Module, Sequence[int], int], float] | None = None,
    step_flops: Callable[[nn.Module, Sequence[int], int], float] | None = None,
) -> TrainingPlan:
    """Plan the entries left ``"auto"`` from ``fingerprint``, for ``network`` (its class and arguments are used
    to build the candidates) on ``device``, within ``memory_budget_bytes`` (bytes, or a size such as ``"2GB"``;
    None: :func:`~unet3d_monai.planning.memory.memory_budget`) and, on a CPU, within ``step_seconds`` per training
    step: ``"auto"``, no more voxels than a step at the fixed default patch and batch, and at most 10% more
    floating-point operations than that step run by ``network`` with its own pooling; a number of seconds;
    ``"none"`` (see :class:`~unet3d_monai.planning.timing.StepTimeLimit`). ``step_flops(network, patch, batch)``
    counts a step's operations (None: :func:`~unet3d_monai.planning.timing.training_step_flops`);
    ``step_timer(network, patch, batch)`` gives its seconds (None: the fastest of two timed steps,
    :func:`~unet3d_monai.planning.timing.training_step_seconds`).

    Raises:
        ValueError: a user-set entry that does not suit the data or the network (one sentence naming it).
    """
    device = torch.device(device)
    spatial_dims = int(getattr(network, "spatial_dims", 3))
    shapes = fingerprint.shapes[:, -spatial_dims:]
    smallest = [int(s) for s in shapes.min(axis=0)]
    median = [float(s) for s in fingerprint.median_shape[-spatial_dims:]]
    entries: dict[str, PlanEntry] = {}
    count = len(fingerprint.volumes)

    # voxel size
    if is_auto(voxel_size):
        found = fingerprint.voxel_size
        sources = ", ".join(fingerprint.voxel_size_sources)
        if found is None:
            entries["voxel_size"] = PlanEntry(None, "no voxel size in the files; pass --voxel_size to record one")
        else:
            entries["voxel_size"] = PlanEntry(found, f"median of {count} training volumes ({sources})")
    else:
        given = check_voxel_size(voxel_size, len(fingerprint.volumes[0].shape), "voxel_size")
        entries["voxel_size"] = PlanEntry(list(given), "given", "set")
    spacing = entries["voxel_size"].value
    spacing = [1.0] * spatial_dims if spacing is None else list(spacing)[-spatial_dims:]

    # pooling
    arguments = getattr(network, "arguments", None)
    num_pools = len(getattr(network, "f_maps", [])) - 1
    if not isinstance(arguments, dict) or "pool_kernel_size" not in arguments or num_pools < 1:
        entries["pool_kernel_size"] = PlanEntry(None, f"{type(network).__name__} takes no pool_kernel_size")
    elif is_auto(pool_kernel_size):
        pools, reason = plan_pooling(None if entries["voxel_size"].value is None else spacing, smallest, num_pools)
        uniform = all(level == pools[0] for level in pools)
        entries["pool_kernel_size"] = PlanEntry(pools[0] if uniform else pools, reason)
    else:
        pool_kernels_per_level(pool_kernel_size, spatial_dims, num_pools)
        entries["pool_kernel_size"] = PlanEntry(pool_kernel_size, "given", "set")
    plan = TrainingPlan(entries, fingerprint=fingerprint.to_dict())
    candidate_network = plan.network(network)
    lower = [int(m) for m in getattr(candidate_network, "min_input_size", [1] * spatial_dims)]
    if entries["pool_kernel_size"].value is None:
        steps = [1] * spatial_dims
    else:
        levels = pool_kernels_per_level(entries["pool_kernel_size"].value, spatial_dims, num_pools)
        steps = [math.prod(level[a] for level in levels) for a in range(spatial_dims)]

    # memory
    budget, budget_source = (
        (int(memory_budget_bytes), "--memory_budget")
        if isinstance(memory_budget_bytes, (int, float)) and not isinstance(memory_budget_bytes, bool)
        else memory_budget(device, memory_budget_bytes)
    )
    plan.memory = {"device": str(device), "budget_bytes": budget, "budget_source": budget_source}
    measured: dict[tuple, int] = {}

    def measure(patch: Sequence[int], batch: int) -> int:
        key = (tuple(patch), batch)
        if key not in measured:
            measured[key] = _measure(candidate_network, patch, batch, device)
            logger.info("training step at patch %s, batch %d: %.1f MB", list(patch), batch, measured[key] / 1e6)
        return measured[key]

    def time_step(timed: nn.Module, patch: Sequence[int], batch: int) -> float:
        # a memory measurement at the same size has already run the step once
        warmup = 0 if timed is candidate_network and (tuple(patch), batch) in measured else 1
        seconds = training_step_seconds(timed, patch, batch, device, warmup_steps=warmup, repeats=TIMED_REPEATS)
        logger.info("training step at patch %s, batch %d: %.2f s", list(patch), batch, seconds)
        return seconds

    # "auto": no more voxels than the fixed defaults' step, and about as many operations as that step run by the
    # bundle's network with its own pooling; a number: seconds, timed
    count_flops = step_flops or training_step_flops
    cost = count_flops if parse_step_seconds(step_seconds) == AUTO else (step_timer or time_step)
    time_limit = StepTimeLimit.create(
        step_seconds,
        device,
        spatial_dims,
        lambda patch, batch: cost(candidate_network, patch, batch),
        lower=[int(m) for m in getattr(network, "min_input_size", [1] * spatial_dims)],
        reference_cost=None
        if candidate_network is network
        else lambda patch, batch: count_flops(network, patch, batch),
    )
    time_limited = False

    # patch
    batch_given = not is_auto(batch_size)
    batch_for_patch = int(batch_size) if batch_given else 1
    if not is_auto(patch_size):
        patch = [int(p) for p in patch_size]
        if len(patch) != spatial_dims:
            raise ValueError(f"patch_size {patch} must hold {spatial_dims} sizes for this {spatial_dims}D network.")
        fitted = [max(min(p, s), m) for p, s, m in zip(patch, smallest, lower)]
        reason = "given" if fitted == patch else f"given {patch}, clipped to the smallest training volume {smallest}"
        entries["patch_size"] = PlanEntry(fitted, reason, "set")
        used = measure(fitted, batch_for_patch)
        volume_limited = fitted == [max(s, m) for s, m in zip(smallest, lower)]
    else:
        patch = [max(s, m) for s, m in zip(smallest, lower)]
        # two small steps give the memory's growth per voxel, which guides the search; each candidate it
        # proposes is then measured
        small = [min(p, max(m, 2 * st, 16)) for p, m, st in zip(patch, lower, steps)]
        larger = [min(p, 2 * r) for p, r in zip(patch, small)]
        small_bytes, larger_bytes = measure(small, batch_for_patch), measure(larger, batch_for_patch)
        extra_voxels = math.prod(larger) - math.prod(small)
        per_voxel = (larger_bytes - small_bytes) / extra_voxels if extra_voxels else small_bytes / math.prod(small)
        fixed = max(0.0, small_bytes - per_voxel * math.prod(small))
        while fixed + per_voxel * math.prod(patch) > budget:
            shorter = _shrink(patch, median, spacing, lower, steps)
            if shorter is None:
                break
            patch = shorter
        used = measure(patch, batch_for_patch)
        for _ in range(MAX_MEASUREMENTS):
            if used <= budget:
                break
            shorter = _shrink(patch, median, spacing, lower, steps)
            if shorter is None:
                break
            patch = shorter
            used = measure(patch, batch_for_patch)
        volume_limited = patch == [max(s, m) for s, m in zip(smallest, lower)]
        few = volume_limited and count < FEW_VOLUMES
        cropped = _room_for_crops(patch, smallest, lower, steps, spatial_dims) if few else patch
        if used > budget:
            reason = f"the smallest the network accepts, {used / 1e6:.0f} MB: over the {budget / 1e6:.0f} MB budget"
        elif cropped != patch:
            patch = cropped
            used = measure(patch, batch_for_patch)
            names = fingerprint.spatial_axes.lower()[-spatial_dims:]
            cut = "/".join(names[a] for a in range(spatial_dims) if patch[a] < smallest[a])
            reason = (
                f"the smallest training volume {_format(smallest)}, {cut} cut to {CROP_SHARE:.0%} for random crops"
                f" ({count} training volumes); a training step takes {used / 1e6:.0f} MB of {budget / 1e6:.0f}"
            )
        elif volume_limited:
            reason = f"the smallest training volume; a training step takes {used / 1e6:.0f} MB of {budget / 1e6:.0f}"
        else:
            reason = (
                f"largest within the {budget / 1e6:.0f} MB budget (measured {used / 1e6:.0f} MB), "
                f"aspect of the median volume {[round(m) for m in median]}"
            )
        if time_limit is not None and used <= budget:
            fits, time_reason = time_limit.check(patch, batch_for_patch)
            if fits:
                reason = f"{reason}; {time_reason}"
            else:
                # the cost of a step grows about as its voxels: shorten to the predicted size, then check it
                memory_patch = list(patch)
                per_voxel = time_limit.load(patch, batch_for_patch) / math.prod(patch)
                while per_voxel * math.prod(patch) > 1.0:
                    shorter = _shrink(patch, median, spacing, lower, steps)
                    if shorter is None:
                        break
                    patch = shorter
                fits, time_reason = time_limit.check(patch, batch_for_patch)
                for _ in range(MAX_MEASUREMENTS):
                    if fits:
                        break
                    shorter = _shrink(patch, median, spacing, lower, steps)
                    if shorter is None:
                        break
                    patch = shorter
                    fits, time_reason = time_limit.check(patch, batch_for_patch)
                time_limited, volume_limited = True, False
                used = measure(patch, batch_for_patch)
                reason = f"{time_reason}; memory allowed {_format(memory_patch)} ({budget / 1e6:.0f} MB budget)"
        entries["patch_size"] = PlanEntry(patch, reason)
    patch = entries["patch_size"].value

    # batch
    if batch_given:
        entries["batch_size"] = PlanEntry(int(batch_size), "given", "set")
    elif entries["patch_size"].source == "set":
        entries["batch_size"] = PlanEntry(1, "the patch is given: one patch per batch")
    elif time_limited:
        entries["batch_size"] = PlanEntry(1, "the patch already takes the step's compute or time target")
    elif not volume_limited or used > budget:
        entries["batch_size"] = PlanEntry(1, "the patch already takes the memory budget")
    else:
        total = float(fingerprint.shapes[:, -spatial_dims:].prod(axis=1).sum())
        by_data = max(1, int(BATCH_DATASET_SHARE * total // math.prod(patch)))
        fixed = 4 * sum(p.numel() * p.element_size() for p in candidate_network.parameters())
        by_memory = max(1, int((budget - fixed) // max(used - fixed, 1)))
        batch = max(1, min(MAX_BATCH_SIZE, by_data, by_memory))
        while batch > 1 and measure(patch, batch) > budget:
            batch -= 1
        if by_data <= min(by_memory, MAX_BATCH_SIZE):
            reason = f"a batch holds at most {BATCH_DATASET_SHARE:.0%} of the training voxels"
        elif by_memory < MAX_BATCH_SIZE:
            reason = "as many patches as fit the memory budget"
        else:
            reason = f"memory allows more; at most {MAX_BATCH_SIZE}"
        if time_limit is not None and batch > 1:
            fits, time_reason = time_limit.check(patch, batch)
            if not fits:
                # as many patches as the step's target allows, from the cost per patch, then checked
                per_patch = time_limit.load(patch, batch) / batch
                batch = max(1, min(batch - 1, int(1.0 / per_patch)))
                fits, time_reason = time_limit.check(patch, batch)
                while not fits and batch > 1:
                    batch -= 1
                    fits, time_reason = time_limit.check(patch, batch)
                reason = time_reason
        entries["batch_size"] = PlanEntry(batch, reason)
    plan.memory["measured_bytes"] = int(measure(patch, entries["batch_size"].value))
    if time_limit is None:
        plan.timing = {"target_seconds": None, "target_source": f"--step_seconds {step_seconds} on {device.type}"}
    else:
        plan.timing = time_limit.to_dict()

    # normalisation
    if is_auto(normalization):
        stats = fingerprint.intensity
        core = stats["percentile_99_5"] - stats["percentile_00_5"]
        ratio = (stats["max"] - stats["min"]) / core if core > 0 else math.inf
        if ratio > OUTLIER_RANGE_RATIO:
            entries["normalization"] = PlanEntry(
                NormalizeMode.PERCENTILE.value,
                f"outliers: the intensity range is {ratio:.1f}x the 0.5-99.5 percentile range"
                f" (> {OUTLIER_RANGE_RATIO:g})",
            )
        else:
            entries["normalization"] = PlanEntry(
                NormalizeMode.STANDARDIZE.value,
                f"no outliers: the intensity range is {ratio:.1f}x the 0.5-99.5 percentile range",
            )
    else:
        entries["normalization"] = PlanEntry(NormalizeMode(normalization).value, "given", "set")

    entries["val_roi_size"] = PlanEntry(list(patch), "the training patch (also the prediction window)")
    return plan
