"""glibc's ``malloc`` tuned for the large, short-lived activations of 3D networks on CPUs."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys
from dataclasses import dataclass

__all__ = ["AllocatorSettings", "configure_glibc_allocator", "glibc", "glibc_allocator_configured"]

# whether configure_glibc_allocator has tuned this process (the settings last until the process exits)
_CONFIGURED = False

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4


@dataclass(frozen=True)
class AllocatorSettings:
    """The ``mallopt`` settings :func:`configure_glibc_allocator` applies.

    By default glibc serves every allocation above its mmap threshold (128 KiB, rising to at most 32 MiB) with a
    fresh ``mmap`` and gives it back with ``munmap`` when freed. The activations of a 3D U-Net are tens to hundreds
    of MiB, allocated and freed in every layer of every window: each one is faulted in page by page by the kernel
    again (millions of minor page faults per window) and unmapped again. Serving them from the heap instead, and
    keeping freed memory instead of trimming it, lets every window reuse the pages of the previous one.

    Args:
        mmap_max: most allocations served by ``mmap`` at once (``M_MMAP_MAX``); 0: none, all come from the heap.
        trim_threshold: free memory at the top of the heap above which glibc returns it to the system
            (``M_TRIM_THRESHOLD``); -1: never.
        top_pad: extra bytes requested from the system whenever the heap grows (``M_TOP_PAD``).
    """

    mmap_max: int = 0
    trim_threshold: int = -1
    top_pad: int = 2**30

    def mallopt_calls(self) -> tuple[tuple[int, int], ...]:
        """The ``(parameter, value)`` pairs passed to ``mallopt``, in order."""
        return ((M_MMAP_MAX, self.mmap_max), (M_TRIM_THRESHOLD, self.trim_threshold), (M_TOP_PAD, self.top_pad))


def glibc() -> ctypes.CDLL | None:
    """glibc's C library when this process runs on Linux with glibc, else None (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def configure_glibc_allocator(settings: AllocatorSettings | None = None) -> bool:
    """Apply ``settings`` (default :class:`AllocatorSettings`) to glibc's ``malloc`` in this process.

    Process-wide and lasting: memory freed afterwards stays with the process until it exits (which is why the
    bundles call this at the start of a run, never at import). Calling it again applies the same values again and
    changes nothing. Elsewhere than Linux with glibc it does nothing and returns False.

    Returns:
        True when glibc accepted every setting.

    Example:
        >>> configure_glibc_allocator() in (True, False)
        True
    """
    libc = glibc()
    if libc is None:
        return False
    settings = AllocatorSettings() if settings is None else settings
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    accepted = [libc.mallopt(parameter, value) == 1 for parameter, value in settings.mallopt_calls()]
    global _CONFIGURED
    _CONFIGURED = _CONFIGURED or all(accepted)
    return all(accepted)


def glibc_allocator_configured() -> bool:
    """Whether :func:`configure_glibc_allocator` has tuned this process's ``malloc`` (scoped changes leave it be)."""
    return _CONFIGURED
