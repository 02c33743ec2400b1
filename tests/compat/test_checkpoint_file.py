"""Every file the package reads with torch.load goes through one helper that refuses, in one sentence naming the
file and what was expected, files that are damaged or hold more than tensors and plain values."""

import io
import re
from pathlib import Path

import pytest
import torch

from unet3d_monai.compat.checkpoint_file import NotACheckpointError, load_checkpoint_file

PACKAGE = Path(__file__).resolve().parents[2] / "unet3d_monai"
DAMAGED = "the file is damaged or truncated, or was not written by torch.save"


class Pickled:
    """An arbitrary object, which a weights-only load must not rebuild."""


def _written(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


@pytest.mark.parametrize("mmap", [False, True])
def test_a_damaged_file_is_one_sentence_without_torchs_advice(tmp_path, mmap):
    good = _written(tmp_path, "good.pt", {"w": torch.zeros(3)}).read_bytes()
    for name, content in {"random.pt": bytes(range(256)) * 8, "truncated.pt": good[: len(good) // 2]}.items():
        path = _written(tmp_path, name, content)
        with pytest.raises(NotACheckpointError) as info:
            load_checkpoint_file(path, "network weights saved with torch.save", mmap=mmap)
        assert (
            str(info.value)
            == f"{path} is not a readable checkpoint: {DAMAGED}; expected network weights saved with torch.save."
        )
        assert "likely succeed" not in str(info.value)


def test_a_file_holding_python_objects_is_refused_without_advice(tmp_path):
    path = _written(tmp_path, "unsafe.pt", {"w": torch.zeros(3), "extra": Pickled()})
    with pytest.raises(NotACheckpointError) as info:
        load_checkpoint_file(path, "a state_dict")
    assert str(info.value) == (
        f"{path} is not a readable checkpoint: it holds a Python object of type "
        "tests.compat.test_checkpoint_file.Pickled, and only tensors, numbers, strings and containers of them are "
        "read from checkpoint files; expected a state_dict."
    )


def test_bytes_a_name_and_another_error_type():
    with pytest.raises(LookupError, match=r"^the weights file 'w\.pt' is not a readable checkpoint: the file is"):
        load_checkpoint_file(
            io.BytesIO(b"\x80\x02junk"), "a state_dict", name="the weights file 'w.pt'", error_type=LookupError
        )


def test_good_files_are_read_also_in_the_old_format_with_mmap(tmp_path):
    new = _written(tmp_path, "new.pt", {"w": torch.arange(3.0)})
    old = tmp_path / "old.pt"
    torch.save({"w": torch.arange(3.0)}, old, _use_new_zipfile_serialization=False)
    for path in (new, old):
        torch.testing.assert_close(load_checkpoint_file(path, "weights", mmap=True)["w"], torch.arange(3.0))
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buffer)
    buffer.seek(0)
    torch.testing.assert_close(load_checkpoint_file(buffer, "weights")["w"], torch.ones(2))


def test_the_package_calls_torch_load_only_in_the_helper():
    calls = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"\btorch\.load\(", re.sub(r"``[^`]*``|#.*", "", path.read_text()))
    }
    assert calls == {"compat/checkpoint_file.py"}
