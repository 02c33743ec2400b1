"""How many threads a CPU run computes with: one per physical core."""

from __future__ import annotations

import os

import psutil

__all__ = ["physical_cores", "resolve_threads"]


def physical_cores() -> int:
    """Physical cores this process may run on, shared among the processes of one ``torchrun`` node.

    Hyper-threads (two logical CPUs of one core) share one core's arithmetic units, and a convolution running two
    threads on one core runs no faster than one. The count is reduced in proportion when the process is bound to
    fewer logical CPUs than the machine has (``taskset``, a cluster scheduler's CPU set), and divided by
    ``LOCAL_WORLD_SIZE`` when ``torchrun`` starts several processes on the node.

    Example:
        >>> physical_cores() >= 1
        True
    """
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    cores = psutil.cpu_count(logical=False) or logical
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    cores = min(cores, max(1, usable * cores // logical))
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, cores // max(1, local_processes))


def resolve_threads(option: object) -> int | None:
    """Read a ``cpu_threads`` bundle option: the number of threads, or None to leave PyTorch's own choice.

    ``"auto"`` is :func:`physical_cores`, unless ``OMP_NUM_THREADS`` is set (whoever set it decided); a whole
    number at least 1 is that many threads; ``null``/``"none"`` leaves PyTorch's count as it is.

    Example:
        >>> resolve_threads(4), resolve_threads(None)
        (4, None)
    """
    if option is None or (isinstance(option, str) and option.strip().lower() in ("none", "null")):
        return None
    if isinstance(option, str) and option.strip().lower() == "auto":
        return None if os.environ.get("OMP_NUM_THREADS") else physical_cores()
    if isinstance(option, str) and option.strip().isdigit():
        option = int(option.strip())
    if isinstance(option, bool) or not isinstance(option, int) or option < 1:
        raise ValueError(
            f"--cpu_threads must be 'auto' (one thread per physical core), a whole number at least 1, or null "
            f"(PyTorch's own choice), got {option!r}."
        )
    return option
