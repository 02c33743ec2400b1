import logging
import subprocess
import sys

import h5py
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from unet3d_monai.data.sample import (
    TASKS,
    ensure_sample_dataset,
    generate_volume,
    main,
    save_preview,
    write_sample_dataset,
)
from unet3d_monai.data.transforms import LabelToBoundary

TINY = (16, 40, 40)
LABEL_DTYPES = {
    "boundary": np.uint16,
    "lightsheet_boundary": np.uint16,
    "nuclei": np.uint16,
    "denoising": np.float32,
    "multiclass": np.uint8,
    "dsb2018_2d": np.uint16,
}


def _tiny(task):
    return (48, 48) if task == "dsb2018_2d" else TINY


def test_every_task_is_known():
    assert set(TASKS) == set(LABEL_DTYPES)


@pytest.mark.parametrize("task", sorted(LABEL_DTYPES))
def test_files_keys_dtypes_shapes(task, tmp_path):
    root = write_sample_dataset(task, tmp_path / task, shape=_tiny(task), n_train=2, n_val=1, n_test=1)
    assert root == tmp_path / task
    expected_shape = (1, 48, 48) if task == "dsb2018_2d" else TINY
    counts = {split: sorted((root / split).glob("*.h5")) for split in ("train", "val", "test")}
    assert [len(counts[s]) for s in ("train", "val", "test")] == [2, 1, 1]
    for path in (p for paths in counts.values() for p in paths):
        with h5py.File(path, "r") as f:
            assert set(f.keys()) == {"raw", "label"}
            assert f["raw"].dtype == np.float32 and f["raw"].shape == expected_shape
            assert f["label"].dtype == LABEL_DTYPES[task] and f["label"].shape == expected_shape
            assert np.isfinite(f["raw"][()]).all()
            assert f.attrs["task"] == task
    # only the dataset is left behind: no temporary files or folders
    assert sorted(p.name for p in tmp_path.iterdir()) == [task]
    assert sorted(p.name for p in root.rglob("*") if p.is_file() and p.suffix != ".h5") == []


def test_default_shapes_and_counts():
    assert TASKS["boundary"].shape == (48, 128, 128) and TASKS["boundary"].splits == (2, 1, 1)
    assert TASKS["dsb2018_2d"].shape[0] == 1


@pytest.mark.parametrize("task", sorted(LABEL_DTYPES))
def test_determinism(task):
    raw_a, label_a = generate_volume(task, _tiny(task), seed=4)
    raw_b, label_b = generate_volume(task, _tiny(task), seed=4)
    raw_c, _ = generate_volume(task, _tiny(task), seed=5)
    raw_val, _ = generate_volume(task, _tiny(task), seed=4, split="val")
    assert raw_a.tobytes() == raw_b.tobytes() and label_a.tobytes() == label_b.tobytes()
    assert raw_a.tobytes() != raw_c.tobytes()
    assert raw_a.tobytes() != raw_val.tobytes()


def test_written_files_are_byte_identical(tmp_path):
    for name in ("a", "b"):
        write_sample_dataset("boundary", tmp_path / name, seed=1, shape=TINY, n_train=1, n_val=0, n_test=0)
    name = "train/boundary_train_00.h5"
    with h5py.File(tmp_path / "a" / name) as a, h5py.File(tmp_path / "b" / name) as b:
        assert a["raw"][()].tobytes() == b["raw"][()].tobytes()
        assert a["label"][()].tobytes() == b["label"][()].tobytes()
    assert not (tmp_path / "a/val").exists()


def test_boundary_labels_tessellate_and_membranes_are_bright():
    raw, label = generate_volume("boundary", (24, 64, 64), seed=0)
    assert label.min() >= 1  # every voxel belongs to a cell
    ids = np.unique(label)
    np.testing.assert_array_equal(ids, np.arange(1, len(ids) + 1))
    assert len(ids) >= 40
    sizes = np.bincount(label.ravel())[1:]
    assert np.median(sizes) > 100  # cells, not speckle
    boundary = LabelToBoundary()(label)[0] > 0
    interior = ~(LabelToBoundary(connectivity=3)(label)[0] > 0)
    # a membrane stain: bright membranes, dark cell interiors
    assert raw[boundary].mean() > 1.5 * raw[interior].mean()


@pytest.mark.parametrize("task", ["boundary", "lightsheet_boundary"])
def test_membrane_gaps_can_be_left_out(task):
    with_gaps, labels = generate_volume(task, (24, 64, 64), seed=0)
    continuous, same_labels = generate_volume(task, (24, 64, 64), seed=0, membrane_gaps=False)
    np.testing.assert_array_equal(labels, same_labels)  # the same cells, only the stain differs
    band = LabelToBoundary()(labels)[0] > 0
    interior = ~(LabelToBoundary(connectivity=3)(labels)[0] > 0)

    def dark_membrane_share(raw):
        smooth = ndimage.gaussian_filter(raw.astype(np.float64), 1.0)
        return float((smooth[band] <= np.median(smooth[interior])).mean())

    # membrane voxels no brighter than the median cell interior: 6 % and 10 % with gaps, under 2 % without
    assert dark_membrane_share(with_gaps) > 0.05
    assert dark_membrane_share(continuous) < 0.025


def test_membrane_gaps_recorded_and_refused_where_there_are_none(tmp_path):
    root = write_sample_dataset("boundary", tmp_path / "b", shape=TINY, n_val=0, n_test=0, membrane_gaps=False)
    with h5py.File(root / "train/boundary_train_00.h5", "r") as f:
        assert f.attrs["membrane_gaps"] == np.False_
        raw = f["raw"][()]
    np.testing.assert_array_equal(raw, generate_volume("boundary", TINY, membrane_gaps=False)[0])
    message = r"applies to the membrane tasks \['boundary', 'lightsheet_boundary'\]; sample task 'nuclei' has no"
    with pytest.raises(ValueError, match=message):
        write_sample_dataset("nuclei", tmp_path / "n", membrane_gaps=False)
    with pytest.raises(ValueError, match="sample task 'denoising' has no membrane gaps"):
        generate_volume("denoising", TINY, membrane_gaps=False)
    assert not (tmp_path / "n").exists()
    main(["lightsheet_boundary", str(tmp_path / "cli"), "--shape", *map(str, TINY), "--no_membrane_gaps"])
    with h5py.File(tmp_path / "cli/test/lightsheet_boundary_test_00.h5", "r") as f:
        assert f.attrs["membrane_gaps"] == np.False_
        raw = f["raw"][()]
    np.testing.assert_array_equal(
        raw, generate_volume("lightsheet_boundary", TINY, split="test", membrane_gaps=False)[0]
    )
    with_gaps = write_sample_dataset("boundary", tmp_path / "g", shape=TINY, n_val=0, n_test=0)
    with h5py.File(with_gaps / "train/boundary_train_00.h5", "r") as f:
        assert f.attrs["membrane_gaps"] == np.True_


def test_nuclei_bright_on_dark_background():
    raw, label = generate_volume("nuclei", (24, 64, 64), seed=0)
    ids = np.unique(label)
    np.testing.assert_array_equal(ids, np.arange(len(ids)))
    assert len(ids) > 10 and 0.05 < (label > 0).mean() < 0.6
    background = raw[label == 0]
    assert raw[label > 0].mean() - background.mean() > 2 * background.std()


def test_denoising_label_is_the_expectation_of_raw():
    raw, clean = generate_volume("denoising", (16, 64, 64), seed=0)
    assert abs(float((raw - clean).mean())) < 0.05 * float(clean.std())
    assert np.corrcoef(raw.ravel(), clean.ravel())[0, 1] > 0.5
    assert (raw - clean).std() > 0.5 * clean.std()  # noisy enough to be worth denoising


def test_multiclass_classes_differ_in_brightness():
    raw, classes = generate_volume("multiclass", (24, 64, 64), seed=0)
    assert set(np.unique(classes)) == {0, 1, 2}
    means = [raw[classes == c].mean() for c in (0, 1, 2)]
    assert means[0] < means[1] < means[2]


def test_overwrite_refusal_and_replacement(tmp_path):
    root = tmp_path / "data"
    root.mkdir()  # an empty folder is fine
    write_sample_dataset("dsb2018_2d", root, shape=(16, 16), n_train=3, n_val=1, n_test=1)
    (root / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"data exists and is not empty; pass overwrite=True"):
        write_sample_dataset("dsb2018_2d", root, shape=(16, 16))
    before = (root / "train/dsb2018_2d_train_00.h5").read_bytes()
    write_sample_dataset("dsb2018_2d", root, seed=9, overwrite=True, shape=(16, 16), n_train=1, n_val=1, n_test=0)
    assert len(list((root / "train").glob("*.h5"))) == 1
    assert not (root / "test").exists()
    assert (root / "notes.txt").read_text() == "keep me"
    assert (root / "train/dsb2018_2d_train_00.h5").read_bytes() != before
    with pytest.raises(FileExistsError, match="not a folder"):
        write_sample_dataset("dsb2018_2d", root / "notes.txt")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Unknown sample task 'cells'"):
        write_sample_dataset("cells", tmp_path / "x")
    with pytest.raises(ValueError, match=r"shape \(Z, Y, X\) with every size >= 8, got \(4, 32, 32\)"):
        write_sample_dataset("boundary", tmp_path / "x", shape=(4, 32, 32))
    with pytest.raises(ValueError, match="dsb2018_2d"):
        write_sample_dataset("dsb2018_2d", tmp_path / "x", shape=(2, 32, 32))
    with pytest.raises(ValueError, match="counts"):
        write_sample_dataset("boundary", tmp_path / "x", n_train=-1)
    with pytest.raises(ValueError, match="split"):
        generate_volume("boundary", TINY, split="training")
    assert not (tmp_path / "x").exists()


def test_ensure_generates_once(tmp_path, caplog):
    root = tmp_path / "dsb"
    with caplog.at_level(logging.INFO, logger="unet3d_monai.data.sample"):
        assert ensure_sample_dataset("dsb2018_2d", root) == root
    assert f"generating synthetic dsb2018_2d dataset in {root}" in caplog.text
    assert [len(list((root / s).glob("*.h5"))) for s in ("train", "val", "test")] == list(TASKS["dsb2018_2d"].splits)
    stamp = (root / "train/dsb2018_2d_train_00.h5").stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="unet3d_monai.data.sample"):
        ensure_sample_dataset("dsb2018_2d", root)
    assert "generating" not in caplog.text
    assert (root / "train/dsb2018_2d_train_00.h5").stat().st_mtime_ns == stamp


def test_command_line(tmp_path, capsys):
    root = tmp_path / "cli"
    png = tmp_path / "preview.png"
    main(["nuclei", str(root), "--seed", "3", "--shape", "12", "32", "32", "--preview", str(png)])
    assert len(list((root / "train").glob("*.h5"))) == 2
    with Image.open(png) as image:
        assert image.size == (3 * (32 + 4 + 32), 3 * 32)
    with pytest.raises(SystemExit) as exit_info:
        main(["nuclei", str(root)])
    assert exit_info.value.code == 2
    assert "is not empty" in capsys.readouterr().err


def test_save_preview_shows_raw_and_boundaries(tmp_path):
    raw = np.zeros((3, 10, 10), dtype=np.float32)
    raw[1, :, 5:] = 100.0
    label = np.ones((3, 10, 10), dtype=np.uint16)
    label[:, :, 5:] = 2
    path = save_preview(raw, label, tmp_path / "p.png", zoom=1)
    pixels = np.asarray(Image.open(path))
    assert pixels.shape == (10, 24)
    assert pixels[0, 0] == 0 and pixels[0, 9] == 255  # raw, contrast-stretched
    np.testing.assert_array_equal(pixels[0, 14:24], [0, 0, 0, 0, 255, 255, 0, 0, 0, 0])  # thick boundary
    with pytest.raises(ValueError, match="save_preview"):
        save_preview(raw, label[0], tmp_path / "q.png")


def test_the_command_runs_without_runpy_warning():
    completed = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "unet3d_monai.data.sample", "--help"],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert "usage: python -m unet3d_monai.data.sample" in completed.stdout
