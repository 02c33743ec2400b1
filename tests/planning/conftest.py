import h5py
import numpy as np
import pytest


def write_volume(path, shape, box, attrs=None, background=10.0, foreground=50.0, label_value=1, dtype=np.uint8):
    """A volume of ``background`` with one box of ``foreground`` labelled ``label_value``."""
    raw = np.full(shape, background, np.float32)
    label = np.zeros(shape, dtype)
    raw[box] = foreground
    label[box] = label_value
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("raw", data=raw)
        f.create_dataset("label", data=label)
        for name, value in (attrs or {}).items():
            f["raw"].attrs[name] = value
    return path


@pytest.fixture
def two_volumes(tmp_path):
    """Two training volumes (20, 30, 40) and (24, 30, 36) with z voxels 8 times longer than y/x."""
    train = tmp_path / "data" / "train"
    box = (slice(2, 6), slice(3, 9), slice(4, 12))  # 4 x 6 x 8 voxels
    write_volume(train / "a.h5", (20, 30, 40), box, {"element_size_um": [8.0, 1.0, 1.0]})
    write_volume(train / "b.h5", (24, 30, 36), box, {"resolution": [8.0, 1.0, 1.0]})
    return tmp_path / "data"
