"""Keep freed memory in the process while windows are predicted, instead of handing it back to the kernel.

torch's CPU convolutions allocate large work buffers on every forward pass (a 3D convolution's unfolded input
is ``27 * C_in`` times the window: hundreds of MB for a 64x128x128 window). glibc serves every allocation above
32 MB with a fresh ``mmap`` and unmaps it when freed, so each forward pass faults all those pages in again and
the kernel zeroes them: block-wise prediction spent as much time in the kernel as in user code. With ``mmap``
off and the heap never trimmed while prediction runs, the buffers are reused from the heap (on a test volume:
1.6 million page faults and 4.1 s of system time become 62,000 and 0.2 s, for about 10% more peak memory).

That holds for the main thread only, unless the process started with ``MALLOC_ARENA_MAX=1``: glibc gives other
threads arenas of their own, whose large blocks are always fresh ``mmap`` s. Dask runs tasks in worker threads, so
the clusters ``local:N`` starts set it (``unet3d_monai.inference.distributed.WORKER_ENVIRONMENT``), and a block task
running in another thread without it says so once.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from collections.abc import Iterator

from unet3d_monai.runtime.allocator import M_MMAP_MAX, M_TRIM_THRESHOLD, glibc, glibc_allocator_configured

__all__ = ["reuse_freed_memory"]

logger = logging.getLogger(__name__)

# glibc's defaults of those parameters, restored on exit
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
_warned_thread_arena = False


def _warn_thread_arena() -> None:
    global _warned_thread_arena
    if _warned_thread_arena or threading.current_thread() is threading.main_thread():
        return
    if os.environ.get("MALLOC_ARENA_MAX") == "1":
        return
    _warned_thread_arena = True
    logger.warning(
        "Windows are predicted in a worker thread of a process started without MALLOC_ARENA_MAX=1: glibc then maps "
        "every large buffer afresh for each window, which can double the time. Start the Dask workers with "
        "MALLOC_ARENA_MAX=1 in their environment (--scheduler local:N does)."
    )


@contextlib.contextmanager
def reuse_freed_memory() -> Iterator[bool]:
    """While inside, freed memory stays in the heap for the next allocation (glibc only; elsewhere nothing changes).

    Yields whether the allocator was changed; glibc's defaults are restored on exit (the heap is then trimmed as
    usual).

    Example::

        with reuse_freed_memory():
            predict_block(...)
    """
    libc = glibc()
    if libc is not None:
        _warn_thread_arena()
    if glibc_allocator_configured():
        # the run already keeps freed memory for good (unet3d_monai.runtime.configure_run): leave it so
        yield True
        return
    changed = (
        libc is not None
        and bool(libc.mallopt(M_MMAP_MAX, 0))
        and bool(libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(2**31 - 1)))
    )
    try:
        yield changed
    finally:
        if libc is not None:
            libc.mallopt(M_MMAP_MAX, _DEFAULT_MMAP_MAX)
            libc.mallopt(M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
