"""Freed memory kept in the heap while windows are predicted (glibc only)."""

import json
import logging
import resource
import subprocess
import sys
import threading

import pytest

from unet3d_monai.inference import allocation
from unet3d_monai.inference.allocation import reuse_freed_memory
from unet3d_monai.runtime.allocator import glibc

pytestmark = pytest.mark.skipif(glibc() is None, reason="the allocator settings apply to glibc's malloc only")


_MEASURE = """
import json, resource, torch
from unet3d_monai.inference.allocation import reuse_freed_memory

def page_faults(repeats=6, megabytes=64):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeats):
        buffer = torch.empty(megabytes * 2**20 // 4)
        buffer.fill_(1.0)
        del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

outside = page_faults()
with reuse_freed_memory() as changed:
    inside = page_faults()
print(json.dumps({"outside": outside, "inside": inside, "changed": changed}))
"""


def test_buffers_freed_inside_are_reused_instead_of_faulted_in_again():
    # in a fresh process: what ran before in this one (other tests, Dask) leaves its heap in any state
    completed = subprocess.run([sys.executable, "-c", _MEASURE], capture_output=True, text=True, check=True)
    faults = json.loads(completed.stdout.strip().splitlines()[-1])
    pages = 64 * 2**20 // resource.getpagesize()
    assert faults["changed"]
    assert faults["outside"] >= 5 * pages  # every buffer faulted in afresh: glibc maps it and unmaps it again
    assert faults["inside"] < 2 * pages  # the first buffer is faulted in, the others reuse its pages


def test_a_worker_thread_without_one_arena_is_told_once(monkeypatch, caplog):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(allocation, "_warned_thread_arena", False)

    def predict_twice():
        for _ in range(2):
            with reuse_freed_memory():
                pass

    with caplog.at_level(logging.WARNING, logger=allocation.__name__):
        predict_twice()  # the main thread: nothing to say
        assert not caplog.records
        worker = threading.Thread(target=predict_twice)
        worker.start()
        worker.join()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and "MALLOC_ARENA_MAX=1" in messages[0]


def _enter_and_leave():
    with reuse_freed_memory():
        pass


def test_a_worker_thread_with_one_arena_is_not_warned(monkeypatch, caplog):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "1")
    monkeypatch.setattr(allocation, "_warned_thread_arena", False)
    with caplog.at_level(logging.WARNING, logger=allocation.__name__):
        worker = threading.Thread(target=_enter_and_leave)
        worker.start()
        worker.join()
    assert not caplog.records
