"""The session guard of ``tests/conftest.py``: a test that writes into a bundle's own work folders is named."""

import os

from tests.conftest import bundle_work_changes, bundle_work_files


def test_the_guard_names_what_was_created_changed_and_removed(tmp_path):
    bundles = tmp_path / "bundles"
    (bundles / "boundary" / "models").mkdir(parents=True)
    (bundles / "boundary" / "train.json").write_text("{}")  # a bundle file, not a work folder
    (bundles / "boundary" / "models" / "model.pt").write_bytes(b"weights")
    (bundles / "nuclei" / "data" / "train").mkdir(parents=True)
    (bundles / "nuclei" / "data" / "train" / "a.h5").write_bytes(b"volume")
    (bundles / "README.md").write_text("not a bundle")
    before = bundle_work_files(bundles)
    assert sorted(before) == ["boundary/models", "boundary/models/model.pt", "nuclei/data", "nuclei/data/train",
                              "nuclei/data/train/a.h5"]  # fmt: skip
    assert bundle_work_changes(before, bundle_work_files(bundles), bundles) is None

    (bundles / "boundary" / "train.json").write_text('{"epochs": 2}')
    assert bundle_work_changes(before, bundle_work_files(bundles), bundles) is None

    (bundles / "boundary" / "output").mkdir()
    (bundles / "boundary" / "output" / "events").write_bytes(b"log")
    (bundles / "boundary" / "models" / "model.pt").write_bytes(b"other weights")
    (bundles / "nuclei" / "data" / "train" / "a.h5").unlink()
    message = bundle_work_changes(before, bundle_work_files(bundles), bundles)
    assert message == (
        f"created: {bundles}/boundary/output, {bundles}/boundary/output/events; "
        f"changed: {bundles}/boundary/models/model.pt; removed: {bundles}/nuclei/data/train/a.h5"
    )


def test_a_touched_file_counts_as_changed(tmp_path):
    bundles = tmp_path / "bundles"
    (bundles / "denoising" / "logs").mkdir(parents=True)
    (bundles / "denoising" / "logs" / "run.log").write_text("same size")
    before = bundle_work_files(bundles)
    os.utime(bundles / "denoising" / "logs" / "run.log", ns=(1, 1))
    changes = bundle_work_changes(before, bundle_work_files(bundles), bundles)
    assert changes == f"changed: {bundles}/denoising/logs/run.log"
