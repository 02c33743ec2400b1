"""Memory of one training step, measured on a real forward and backward pass, and the budget it must fit."""

from __future__ import annotations

import re
import weakref

import psutil
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = ["LiveTensorBytes", "memory_budget", "parse_memory", "training_step_bytes"]

# share of the available RAM a CPU training step may take, and of a GPU's free memory
CPU_SHARE = 0.25
GPU_SHARE = 0.85
_UNITS = {"": 2**30, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_memory(value: float | int | str, name: str = "--memory_budget") -> int:
    """Bytes of ``value``: a number of GiB (``2`` or ``0.5``) or a string with a unit (``"512MB"``, ``"2GiB"``).

    Raises:
        ValueError: one sentence naming ``name``.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        if match is None or match.group(2).lower() not in _UNITS:
            raise ValueError(f"{name} must be a size such as 2 (GiB), 512MB or 1.5GiB, got {value!r}.")
        number, unit = float(match.group(1)), match.group(2).lower()
    if number <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}.")
    return int(number * _UNITS[unit])


def memory_budget(device: torch.device | str, given: float | int | str | None = None) -> tuple[int, str]:
    """The bytes a training step may use on ``device``, and why: ``given`` (``--memory_budget``), else
    85% of the GPU's free memory, else a quarter of the available RAM."""
    if given is not None:
        return parse_memory(given), "--memory_budget"
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(GPU_SHARE * free), f"{GPU_SHARE:.0%} of the free memory of {torch.cuda.get_device_name(device)}"
    return int(CPU_SHARE * psutil.virtual_memory().available), f"{CPU_SHARE:.0%} of the available RAM"


class LiveTensorBytes(TorchDispatchMode):
    """Counts the bytes of the tensor storages that every operation run under it creates, and their peak.

    A storage counts from the operation that returns it until the last tensor viewing it is freed: the memory
    PyTorch's CPU allocator holds for the pass, without the allocator's caching or the process' other memory.

    Example::

        with LiveTensorBytes() as live:
            network(x).square().mean().backward()
        live.peak   # bytes
    """

    def __init__(self) -> None:
        super().__init__()
        self.current = 0
        self.peak = 0
        self._views: dict[int, int] = {}
        self._sizes: dict[int, int] = {}

    def _release(self, key: int) -> None:
        self._views[key] -= 1
        if self._views[key] == 0:
            self.current -= self._sizes.pop(key)
            del self._views[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor) or tensor.device.type == "meta":
                continue
            storage = tensor.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
            if size == 0:
                continue
            if key not in self._views:
                self._views[key] = 0
                self._sizes[key] = size
                self.current += size
                self.peak = max(self.peak, self.current)
            self._views[key] += 1
            weakref.finalize(tensor, self._release, key)
        return out


def training_step_bytes(
    network: nn.Module, patch_size: tuple[int, ...], batch_size: int, device: torch.device | str
) -> int:
    """Bytes one training step of ``network`` takes at ``patch_size`` and ``batch_size``, measured by running it.

    A random batch ``(batch_size, in_channels, *patch_size)`` goes forward and backward (the loss is the mean
    square of the logits, as cheap as any real loss). On CUDA the measure is the allocator's peak
    (``torch.cuda.max_memory_allocated``) above what was allocated before; on the CPU the peak of the tensors the
    pass creates (:class:`LiveTensorBytes`). Added: the weights and the Adam optimiser's two moments (3 times the
    weights' bytes). The network's gradients are cleared afterwards.
    """
    device = torch.device(device)
    network = network.to(device).train()
    in_channels = network.in_channels
    weights = sum(p.numel() * p.element_size() for p in network.parameters())
    generator = torch.Generator(device=device.type).manual_seed(0)
    x = torch.randn((batch_size, in_channels, *patch_size), generator=generator, device=device)
    try:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            network(x).square().mean().backward()
            torch.cuda.synchronize(device)
            used = torch.cuda.max_memory_allocated(device) - before
        else:
            with LiveTensorBytes() as live:
                network(x).square().mean().backward()
            used = live.peak
    finally:
        network.zero_grad(set_to_none=True)
    return int(used + 3 * weights + x.numel() * x.element_size())
