"""Files and folders replaced whole: atomic_write and replace_path."""

import pytest

from unet3d_monai.io.atomic import atomic_write, replace_path


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "record.json"
    with atomic_write(target, "w") as handle:
        handle.write("first")
    with atomic_write(target, "w") as handle:
        handle.write("second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["record.json"]


def test_atomic_write_failing_midway_keeps_the_previous_file(tmp_path):
    target = tmp_path / "weights.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_write(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("interrupted")
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
