"""Shared test fixtures."""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "pytorch3dunet"


@pytest.fixture(scope="session")
def seed_fixtures() -> Path:
    """Folder with checkpoints written by pytorch-3dunet and their recorded inputs/outputs."""
    if not (FIXTURES / "manifest.json").is_file():
        pytest.fail(f"pytorch-3dunet fixtures not found at {FIXTURES}")
    return FIXTURES
