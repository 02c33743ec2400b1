import pytest

from unet3d_monai.runtime import physical_cores, resolve_threads
from unet3d_monai.runtime import threads as threads_module


@pytest.fixture
def machine(monkeypatch):
    """A machine with 16 logical CPUs on 8 cores (two hyper-threads per core), this process allowed on all."""

    def counts(logical=True):
        return 16 if logical else 8

    monkeypatch.setattr(threads_module.psutil, "cpu_count", counts)
    monkeypatch.setattr(threads_module.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return monkeypatch


def test_one_thread_per_physical_core(machine):
    assert physical_cores() == 8
    assert resolve_threads("auto") == 8


def test_cpu_set_and_local_processes_share_the_cores(machine):
    machine.setattr(threads_module.os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    assert physical_cores() == 3  # 6 of 16 logical CPUs: 3 of the 8 cores
    machine.setenv("LOCAL_WORLD_SIZE", "2")
    assert physical_cores() == 1
    machine.setattr(threads_module.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert physical_cores() == 1  # never below one


def test_omp_num_threads_decides_auto(machine):
    machine.setenv("OMP_NUM_THREADS", "3")
    assert resolve_threads("auto") is None


@pytest.mark.parametrize(("option", "expected"), [(4, 4), ("4", 4), (" 2 ", 2), (None, None), ("none", None)])
def test_explicit_counts(option, expected):
    assert resolve_threads(option) == expected


@pytest.mark.parametrize("option", [0, -1, "many", 2.5, True, "0"])
def test_bad_counts_name_the_option(option):
    with pytest.raises(ValueError, match=r"^--cpu_threads must be 'auto'"):
        resolve_threads(option)
