"""Shared test fixtures."""

import logging
import os
import signal
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pytorch3dunet"
SEED_CONFIGS = Path(__file__).resolve().parents[1].parent / "shared" / "seed" / "configs"


@pytest.fixture(scope="session")
def seed_fixtures() -> Path:
    """Checkpoints written by pytorch-3dunet and their recorded inputs/outputs, shipped in ``tests/fixtures``."""
    assert (FIXTURES / "manifest.json").is_file(), f"pytorch-3dunet fixtures missing from the repository at {FIXTURES}"
    return FIXTURES


def seed_config_files() -> list[Path]:
    """pytorch-3dunet's example YAML configs from ``../shared/seed/configs`` (not shipped: tests that use them skip
    with a reason when the folder is absent)."""
    root = Path(os.environ.get("UNET3D_MONAI_SEED_CONFIGS", SEED_CONFIGS))
    return sorted(root.glob("*/*.y*ml"))


@pytest.fixture(scope="session", autouse=True)
def _usual_ctrl_c():
    """SIGINT raises KeyboardInterrupt, as in an interactive Python, also when the suite was started with SIGINT
    ignored (a background job of a script): the tests of stopping on Ctrl-C send it to their own process."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """Bundles run in-process configure the root logger (their logging.conf) with a handler on the test's captured
    stdout; remove it afterwards so that later tests do not log into a closed stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def threads_kept_and_allocator_recorded(monkeypatch):
    """For the tests that apply the CPU run settings (``pytestmark = pytest.mark.usefixtures(...)``): restore
    PyTorch's thread count after each test, and record allocator calls instead of changing this process's malloc
    for the rest of the test session. The recorded calls, one ``1`` each."""
    from unet3d_monai.runtime import cpu_run

    calls = []
    monkeypatch.setattr(cpu_run, "configure_glibc_allocator", lambda: calls.append(1) or True)
    monkeypatch.setattr(cpu_run, "glibc", lambda: object())
    threads = torch.get_num_threads()
    yield calls
    torch.set_num_threads(threads)
