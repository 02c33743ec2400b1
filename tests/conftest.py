"""Shared test fixtures."""

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pytorch3dunet"
SEED_CONFIGS = Path(__file__).resolve().parents[1].parent / "shared" / "seed" / "configs"
BUNDLES = Path(__file__).resolve().parents[1] / "bundles"
#: the folders of a bundle that its default command fills (the quick start): tests leave them alone
BUNDLE_WORK_FOLDERS = ("data", "models", "output", "logs")


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


def bundle_work_files(bundles: Path = BUNDLES) -> dict[str, tuple]:
    """Every file and folder under ``bundles/*/{data,models,output,logs}``, relative to ``bundles``: ``("folder",)``
    or the file's ``(size, mtime_ns)``."""
    listing: dict[str, tuple] = {}
    for bundle in sorted(path for path in bundles.iterdir() if path.is_dir()):
        for name in BUNDLE_WORK_FOLDERS:
            folder = bundle / name
            if not folder.exists():
                continue
            for path in [folder, *sorted(folder.rglob("*"))]:
                try:
                    info = path.lstat()
                except FileNotFoundError:  # removed while listing: absent
                    continue
                is_folder = path.is_dir() and not path.is_symlink()
                listing[str(path.relative_to(bundles))] = ("folder",) if is_folder else (info.st_size, info.st_mtime_ns)
    return listing


def bundle_work_changes(before: dict[str, tuple], after: dict[str, tuple], bundles: Path = BUNDLES) -> str | None:
    """What changed between two :func:`bundle_work_files` listings, naming every file, e.g. ``created:
    /repo/bundles/boundary/models, /repo/bundles/boundary/models/model.pt``; None if nothing did."""
    parts = []
    for what, names in (
        ("created", sorted(after.keys() - before.keys())),
        ("changed", sorted(name for name in before.keys() & after.keys() if before[name] != after[name])),
        ("removed", sorted(before.keys() - after.keys())),
    ):
        if names:
            parts.append(f"{what}: {', '.join(str(bundles / name) for name in names)}")
    return "; ".join(parts) or None


def _fail_on_bundle_work_changes(state: dict, when: str) -> None:
    after = bundle_work_files()
    changes = bundle_work_changes(state["listing"], after)
    state["listing"] = after
    if changes:
        pytest.fail(
            "tests must leave the bundles' own data/, models/, output/ and logs/ folders alone (give runs "
            "--dataset_dir, --ckpt_dir, --output_dir, --input, --ckpt_path or --bundle_root under tmp_path), but "
            f"{when} {changes} (unless another process wrote there meanwhile).",
            pytrace=False,
        )


@pytest.fixture(scope="session", autouse=True)
def _bundle_work_listing():
    """The listing of the bundles' work folders (:func:`bundle_work_files`) after the last test; at the end of the
    session, an error names what fixtures changed there after the last test."""
    state = {"listing": bundle_work_files()}
    yield state
    _fail_on_bundle_work_changes(state, "after the last test")


@pytest.fixture(autouse=True)
def _bundle_work_folders_untouched(_bundle_work_listing):
    """An error at the teardown of a test that created, changed or removed anything in
    ``bundles/*/{data,models,output,logs}``, or at the setup of the next test when fixtures of a wider scope did: a
    test must not depend on what a user's quick start left there, nor leave anything there."""
    _fail_on_bundle_work_changes(_bundle_work_listing, "the fixtures set up or finished before this test")
    yield
    _fail_on_bundle_work_changes(_bundle_work_listing, "this test")


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


@pytest.fixture
def write_h5(tmp_path: Path) -> Callable[..., Path]:
    """``write_h5(name, raw=array, label=array, chunks=None)`` writes ``tmp_path/name`` and returns its path."""

    def write(name: str, chunks: tuple[int, ...] | None = None, **datasets: np.ndarray) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            for key, value in datasets.items():
                value = np.asarray(value)
                c = chunks if chunks is not None and len(chunks) == value.ndim else None
                f.create_dataset(key, data=value, chunks=c)
        return path

    return write
