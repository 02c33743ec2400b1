"""Files and folders replaced whole: atomic_write and replace_path."""

import re
from pathlib import Path

import pytest

from unet3d_monai.io.atomic import atomic_path, atomic_write, replace_path


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "record.json"
    with atomic_write(target, "w") as handle:
        handle.write("first")
    with atomic_write(target, "w") as handle:
        handle.write("second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["record.json"]


def _write_with_handle(target):
    with atomic_write(target) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("interrupted")


def _write_by_path(target):
    with atomic_path(target) as temporary:
        temporary.write_bytes(b"half of the new")
        raise RuntimeError("interrupted")


@pytest.mark.parametrize("write", [_write_with_handle, _write_by_path], ids=["atomic_write", "atomic_path"])
def test_writing_failing_midway_keeps_the_previous_file(tmp_path, write):
    target = tmp_path / "weights.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="interrupted"):
        write(target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.bin"]


def test_replace_path_puts_a_folder_in_place_of_another(tmp_path):
    output = tmp_path / "out.zarr"
    (output / "old").mkdir(parents=True)
    staged = tmp_path / "out.zarr.part"
    (staged / "new").mkdir(parents=True)
    assert replace_path(staged, output) == output
    assert [p.name for p in output.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]


def test_replace_path_renames_a_file_over_a_file(tmp_path):
    (tmp_path / "a.h5").write_bytes(b"old")
    (tmp_path / "a.h5.part").write_bytes(b"new")
    replace_path(tmp_path / "a.h5.part", tmp_path / "a.h5")
    assert (tmp_path / "a.h5").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]


def test_atomic_path_gives_a_unique_temporary_name_with_the_suffix_and_renames_it(tmp_path):
    target = tmp_path / "sub" / "a.nii.gz"
    with atomic_path(target, suffix=".nii.gz") as first, atomic_path(target, suffix=".nii.gz") as second:
        assert first != second and first.parent == second.parent == target.parent
        assert re.fullmatch(r"\.a\.nii\.gz\.[0-9a-f]{12}\.tmp\.nii\.gz", first.name), first.name
        assert first.is_file() and first.stat().st_size == 0  # created, so no other writer can take the name
        first.write_bytes(b"first")
        second.write_bytes(b"second")
    assert target.read_bytes() == b"first"  # the outer block ends last: its rename wins whole, nothing is mixed
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.nii.gz"]


def test_every_file_of_the_package_is_renamed_into_place_by_io_atomic():
    """One atomic write: no module of the package renames a file itself (os.replace, os.rename, Path.rename)."""
    package = Path(__file__).resolve().parents[2] / "unet3d_monai"
    found = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path.relative_to(package).as_posix() != "io/atomic.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"os\.(replace|rename)\(|\.rename\(", line)
    ]
    assert found == []
