import ctypes
import subprocess
import sys
from pathlib import Path

import pytest

from unet3d_monai.runtime import allocator
from unet3d_monai.runtime.allocator import AllocatorSettings, configure_glibc_allocator

ALLOCATOR_FILE = Path(allocator.__file__)


class RecordingMallopt:
    """Stands in for glibc's mallopt: records every call and accepts it (returns 1), except ``refuse``."""

    argtypes = None
    restype = None

    def __init__(self, refuse=()) -> None:
        self.calls = []
        self.refuse = refuse

    def __call__(self, parameter, value):
        self.calls.append((parameter, value))
        return 0 if parameter in self.refuse else 1


class RecordingLibc:
    def __init__(self, refuse=()) -> None:
        self.mallopt = RecordingMallopt(refuse)


def test_settings_are_glibc_parameters_and_values():
    # <malloc.h>: M_TRIM_THRESHOLD -1, M_TOP_PAD -2, M_MMAP_MAX -4; trimming off is -1, the pad 1 GiB
    assert AllocatorSettings().mallopt_calls() == ((-4, 0), (-1, -1), (-2, 1073741824))


def test_configure_calls_mallopt_and_is_idempotent(monkeypatch):
    libc = RecordingLibc()
    monkeypatch.setattr(allocator, "glibc", lambda: libc)
    assert configure_glibc_allocator() is True
    assert configure_glibc_allocator() is True
    assert libc.mallopt.calls == [(-4, 0), (-1, -1), (-2, 2**30)] * 2


def test_configure_reports_a_refused_setting(monkeypatch):
    libc = RecordingLibc(refuse=(-4,))
    monkeypatch.setattr(allocator, "glibc", lambda: libc)
    assert configure_glibc_allocator() is False
    assert libc.mallopt.calls == [(-4, 0), (-1, -1), (-2, 2**30)]  # the ones after a refused one still applied


def test_no_op_without_glibc(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.glibc() is None
    assert configure_glibc_allocator() is False


def test_glibc_found_on_linux_with_glibc():
    import platform

    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert (allocator.glibc() is not None) == expected


_EFFECT = """
import ctypes, importlib.util, sys
spec = importlib.util.spec_from_file_location("allocator", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["allocator"] = module
spec.loader.exec_module(module)

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = module.glibc()
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def mapped_blocks_while_holding(nbytes):
    pointer = libc.malloc(nbytes)
    held = libc.mallinfo2().hblks
    libc.free(pointer)
    return held - libc.mallinfo2().hblks

before = mapped_blocks_while_holding(64 * 2**20)
applied = [module.configure_glibc_allocator(), module.configure_glibc_allocator()]
after = mapped_blocks_while_holding(64 * 2**20)
print(before, after, applied)
"""


@pytest.mark.skipif(allocator.glibc() is None, reason="needs Linux with glibc")
def test_large_blocks_come_from_the_heap_once_configured():
    """A 64 MiB block is its own mmap by default, and a heap block after the settings (a fresh process, since the
    settings last for the process)."""
    if not hasattr(allocator.glibc(), "mallinfo2"):
        pytest.skip("glibc older than 2.33 has no mallinfo2")
    result = subprocess.run(
        [sys.executable, "-c", _EFFECT, str(ALLOCATOR_FILE)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "0", "[True,", "True]"]


def test_ctypes_is_what_loads_glibc():
    libc = allocator.glibc()
    assert libc is None or isinstance(libc, ctypes.CDLL)
