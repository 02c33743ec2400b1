"""The settings a CPU run starts with: allocator, threads, channels-last weights, bfloat16 autocast."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from unet3d_monai.networks.inspection import network_spatial_dims
from unet3d_monai.options import as_bool
from unet3d_monai.runtime.allocator import configure_glibc_allocator, glibc
from unet3d_monai.runtime.bfloat16_guard import guard_bfloat16_convolutions
from unet3d_monai.runtime.cpu_bfloat16 import cpu_bfloat16_enabled
from unet3d_monai.runtime.memory_format import to_channels_last_3d
from unet3d_monai.runtime.threads import resolve_threads

__all__ = ["CPURunSettings", "apply_cpu_run", "configure_run", "resolve_cpu_run"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CPURunSettings:
    """What a run on the CPU does to compute fast, resolved from the bundle options (see :func:`resolve_cpu_run`).

    Picklable, so that a run can hand its settings to the processes it starts (block-wise or distributed
    prediction workers), which apply them with :func:`apply_cpu_run`.

    Attributes:
        allocator: glibc's malloc keeps large blocks on the heap and never trims it
            (:func:`~unet3d_monai.runtime.allocator.configure_glibc_allocator`); False on other C libraries.
        threads: PyTorch's intra-op threads, or None to leave its own choice.
        channels_last: 3D networks are stored channels-last (:func:`~unet3d_monai.runtime.to_channels_last_3d`).
        bfloat16: the network runs under ``torch.autocast("cpu", torch.bfloat16)``.

    Example::

        >>> settings = CPURunSettings(allocator=False, threads=2, channels_last=True, bfloat16=False)
        >>> settings.describe()
        'glibc allocator: default; threads: 2; channels-last 3D: on; bfloat16 autocast: off'
    """

    allocator: bool
    threads: int | None
    channels_last: bool
    bfloat16: bool

    def describe(self) -> str:
        """One line for the run's log."""
        threads = f"{self.threads}" if self.threads is not None else f"{torch.get_num_threads()} (PyTorch default)"
        return (
            f"glibc allocator: {'heap only, no trimming, 1 GiB top pad' if self.allocator else 'default'}; "
            f"threads: {threads}; channels-last 3D: {'on' if self.channels_last else 'off'}; "
            f"bfloat16 autocast: {'on' if self.bfloat16 else 'off'}"
        )

    def autocast(self) -> AbstractContextManager:
        """The context a forward pass runs in: bfloat16 autocast on the CPU, or nothing."""
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.bfloat16 else nullcontext()


def resolve_cpu_run(
    device: torch.device | str,
    allocator: bool | str = True,
    threads: int | str | None = "auto",
    channels_last: bool | str = True,
    cpu_bf16: bool | str = "auto",
) -> CPURunSettings:
    """Resolve the bundle options of a run into its :class:`CPURunSettings`, changing nothing yet.

    On a device other than the CPU every setting is off: the GPU has its own (AMP, channels-last, cuDNN).

    Args:
        device: where the network runs.
        allocator: tune glibc's malloc (a no-op elsewhere than Linux with glibc).
        threads: ``"auto"`` (one per physical core), a whole number, or None (PyTorch's choice); see
            :func:`~unet3d_monai.runtime.threads.resolve_threads`.
        channels_last: store 3D networks channels-last.
        cpu_bf16: ``"auto"`` (on where the CPU computes bfloat16 natively), true or false; see
            :func:`~unet3d_monai.runtime.cpu_bfloat16_enabled`.

    Raises:
        ValueError: an option that is not one of the values above, named in one sentence.
    """
    allocator = as_bool(allocator, "cpu_allocator")
    channels_last = as_bool(channels_last, "channels_last")
    resolved_threads = resolve_threads(threads)
    bfloat16 = cpu_bfloat16_enabled(cpu_bf16, device)
    if torch.device(device).type != "cpu":
        return CPURunSettings(allocator=False, threads=None, channels_last=False, bfloat16=False)
    return CPURunSettings(
        allocator=allocator and glibc() is not None,
        threads=resolved_threads,
        channels_last=channels_last,
        bfloat16=bfloat16,
    )


def apply_cpu_run(settings: CPURunSettings, network: nn.Module | None = None) -> CPURunSettings:
    """Apply ``settings`` to this process and, with ``channels_last``, to a 3D ``network`` (in place).

    Calling it again with the same settings changes nothing. A worker process calls it first with the settings
    its parent resolved. With ``bfloat16``, the 3D convolutions of the network compute in float32 where oneDNN's
    bfloat16 is wrong (:func:`~unet3d_monai.runtime.bfloat16_guard.guard_bfloat16_convolutions`). Returns the
    settings as applied: ``allocator`` False where glibc refused them, and ``channels_last`` False when there is no
    network or it is 2D.
    """
    allocator = configure_glibc_allocator() if settings.allocator else False
    if settings.threads is not None and torch.get_num_threads() != settings.threads:
        torch.set_num_threads(settings.threads)
    three_d = network is not None and network_spatial_dims(network) == 3
    channels_last = settings.channels_last and three_d
    if channels_last:
        to_channels_last_3d(network)
    if settings.bfloat16 and three_d:
        guard_bfloat16_convolutions(network)
    return CPURunSettings(
        allocator=allocator, threads=settings.threads, channels_last=channels_last, bfloat16=settings.bfloat16
    )


def configure_run(
    device: torch.device | str,
    network: nn.Module | None = None,
    allocator: bool | str = True,
    threads: int | str | None = "auto",
    channels_last: bool | str = True,
    cpu_bf16: bool | str = "auto",
) -> CPURunSettings:
    """Resolve and apply the CPU settings at the start of a training or prediction run, and log them.

    The bundles call this once, after their option checks, from one line in ``train.json`` (``initialize``) and
    ``inference.json`` (``run``). It is not done at import: the allocator settings last for the whole process,
    which then keeps the memory it frees, fine for a training or prediction run but not for a notebook that
    only imported the package. Arguments as in :func:`resolve_cpu_run`.

    Example::

        >>> settings = configure_run("cpu", network, cpu_bf16=False)    # doctest: +SKIP
        >>> settings.channels_last, settings.bfloat16                   # doctest: +SKIP
        (True, False)
    """
    settings = apply_cpu_run(resolve_cpu_run(device, allocator, threads, channels_last, cpu_bf16), network)
    if torch.device(device).type == "cpu":
        logger.info("CPU run: %s", settings.describe())
    return settings
