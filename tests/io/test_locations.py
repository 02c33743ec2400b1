import os
import shutil

import pytest

from unet3d_monai.io import locations
from unet3d_monai.io.locations import check_free_space, check_writable_folder, existing_ancestor, format_bytes


def test_existing_ancestor(tmp_path):
    assert existing_ancestor(tmp_path / "a" / "b" / "c") == tmp_path
    assert existing_ancestor(tmp_path) == tmp_path


def test_format_bytes():
    assert [format_bytes(n) for n in (0, 1023, 1536, 3 * 2**30, 2**50)] == [
        "0 bytes",
        "1023 bytes",
        "1.5 KiB",
        "3.0 GiB",
        "1024.0 TiB",
    ]


def test_a_missing_folder_is_judged_by_its_parent_and_not_created(tmp_path):
    assert check_writable_folder(tmp_path / "new" / "deeper", "--output_dir") == tmp_path / "new" / "deeper"
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError) as info:
        check_writable_folder(tmp_path / "f" / "models", "--ckpt_dir")
    expected = f"--ckpt_dir '{tmp_path / 'f' / 'models'}' cannot be a folder: '{tmp_path / 'f'}' is a file."
    assert str(info.value) == expected
    with pytest.raises(NotADirectoryError, match="cannot be a folder"):
        check_writable_folder(tmp_path / "f", "--ckpt_dir")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into folders without write permission")
def test_a_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        with pytest.raises(PermissionError, match=r"is not writable \(it would be created in '.*locked'\)"):
            check_writable_folder(locked / "models", "--ckpt_dir")
    finally:
        locked.chmod(0o755)


def test_permission_message(tmp_path, monkeypatch):
    """Whoever runs the tests (root ignores permissions), the message names the folder and where it would go."""
    monkeypatch.setattr(locations.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError) as info:
        check_writable_folder(tmp_path / "models", "--ckpt_dir")
    assert str(info.value) == (
        f"--ckpt_dir '{tmp_path / 'models'}' is not writable (it would be created in '{tmp_path}'): no write "
        f"permission on '{tmp_path}'; choose another folder."
    )


def test_free_space(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    check_free_space(tmp_path / "out", 1, "--output_dir", "predicting 1 volume")
    with pytest.raises(OSError) as info:
        check_free_space(tmp_path / "out", free * 4, "--output_dir", "predicting 2 volumes")
    message = str(info.value)
    assert message.startswith(f"--output_dir '{tmp_path / 'out'}' has ")
    assert f"free but predicting 2 volumes needs about {format_bytes(free * 4)}; free some space" in message
