import numpy as np
import pytest

from unet3d_monai.io import HDF5KeyError, check_dataset_dir, find_h5_files, make_datalist


@pytest.fixture
def tree(write_h5, tmp_path):
    for name in ("train/b.h5", "train/a.hdf5", "val/c.h5", "other/d.hd5"):
        write_h5(name, raw=np.zeros((2, 2, 2), np.float32), label=np.zeros((2, 2, 2), np.uint8))
    (tmp_path / "train" / "notes.txt").write_text("not data")
    return tmp_path


def test_find_h5_files_folder_glob_list(tree):
    assert find_h5_files(tree / "train") == [tree / "train/a.hdf5", tree / "train/b.h5"]
    assert find_h5_files(str(tree / "*" / "*.h5")) == [tree / "train/b.h5", tree / "val/c.h5"]
    assert find_h5_files([tree / "val/c.h5", tree / "train", tree / "val"]) == [
        tree / "val/c.h5",
        tree / "train/a.hdf5",
        tree / "train/b.h5",
    ]


def test_make_datalist(tree):
    assert make_datalist(tree / "val") == [{"image": str(tree / "val/c.h5"), "label": str(tree / "val/c.h5")}]
    assert make_datalist(tree / "other", keys=("image",)) == [{"image": str(tree / "other/d.hd5")}]


def test_check_dataset_dir(tree, write_h5):
    files = check_dataset_dir(tree)
    assert files == {"train": [tree / "train/a.hdf5", tree / "train/b.h5"], "val": [tree / "val/c.h5"]}
    with pytest.raises(FileNotFoundError, match=r"has no 'test' subfolder"):
        check_dataset_dir(tree, splits=("train", "test"))
    with pytest.raises(FileNotFoundError, match=r"Dataset folder '.*nowhere' does not exist"):
        check_dataset_dir(tree / "nowhere")
    write_h5("val/e.h5", raw=np.zeros((2, 2, 2), np.float32))
    with pytest.raises(HDF5KeyError, match=r"e\.h5': dataset 'label' is missing; datasets present: 'raw'\."):
        check_dataset_dir(tree)
    assert check_dataset_dir(tree, splits=("val",), label_key=None)["val"][-1] == tree / "val/e.h5"
    (tree / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"Folder '.*empty' contains no HDF5 files"):
        check_dataset_dir(tree, splits=("empty",))


def test_find_files_by_folder_pattern_and_name(tmp_path):
    from unet3d_monai.io.files import find_files

    for name in ("b.txt", "a.txt", "c.csv"):
        (tmp_path / name).write_text("")
    (tmp_path / "store.txt").mkdir()  # a folder taken whole when named

    def listed(p):
        return p.is_file() and p.suffix == ".txt"

    def named(p):
        return p.suffix == ".txt"

    def find(paths):
        return find_files(paths, "text files", (".txt",), listed, named)

    assert find(tmp_path) == [tmp_path / "a.txt", tmp_path / "b.txt"]
    assert find([tmp_path / "b.txt", tmp_path / "*.txt"]) == [tmp_path / "b.txt", tmp_path / "a.txt"]
    assert find(tmp_path / "store.txt") == [tmp_path / "store.txt"]
    with pytest.raises(FileNotFoundError, match=r"'.*c\.csv' is none of the text files read here \(expected \*\.txt\)"):
        find(tmp_path / "c.csv")
    with pytest.raises(FileNotFoundError, match=r"^Pattern '.*\*\.dat' matches no text files\.$"):
        find(tmp_path / "*.dat")
    with pytest.raises(FileNotFoundError, match=r"^No text files: the list of inputs is empty\.$"):
        find([])
    assert find_files(tmp_path / "c.csv", "text files", (".txt",), listed) == [tmp_path / "c.csv"]  # any named file
