import shutil

import h5py
import numpy as np
import pytest

from unet3d_monai.inference import ToModelGridd
from unet3d_monai.inference.chain_checks import prediction_grid
from unet3d_monai.inference.output_space import check_prediction_space, prediction_bytes


@pytest.fixture
def volumes(tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["raw"] = np.zeros((10, 20, 30), np.uint8)
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["raw"] = np.zeros((2, 4, 5, 6), np.float32)  # (C, Z, Y, X)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["raw"] = np.zeros((3, 50, 60), np.float32)  # (C, Y, X) for a 2D network with 3 input channels
    return tmp_path


def test_prediction_bytes(volumes):
    a, b, c = volumes / "a.h5", volumes / "b.h5", volumes / "c.h5"
    assert prediction_bytes(a, "raw", 1, "float32") == (4 * 6000, 0)
    # block-wise: weighted sums of 2 channels and the weights, float32
    assert prediction_bytes(a, "raw", 2, "float16", blockwise=True) == (2 * 2 * 6000, 3 * 4 * 6000)
    assert prediction_bytes(b, "raw", 3, "uint8") == (3 * 120, 0)
    assert prediction_bytes(c, "raw", 1, "float32", channels_first_3d=True) == (4 * 3000, 0)
    uses_blocks = lambda spatial: spatial == (1, 50, 60)  # noqa: E731
    assert prediction_bytes(c, "raw", 1, "float32", True, blockwise=uses_blocks)[1] == 2 * 4 * 3000
    assert prediction_bytes(volumes / "ct.nii.gz", "raw", 1, "float32") == (0, 0)  # compressed: not estimated


def test_check_prediction_space(volumes):
    files = [volumes / "a.h5", volumes / "b.h5"]
    # both outputs stay, only the larger block-wise partials exist at a time
    needed = check_prediction_space(volumes / "out", files, "raw", 2, "float32", blockwise=True)
    assert needed == (2 * 4 * 6000 + 2 * 4 * 120) + 3 * 4 * 6000
    assert not (volumes / "out").exists()
    free = shutil.disk_usage(volumes).free
    huge = volumes / "huge.h5"
    with h5py.File(huge, "w") as f:
        f.create_dataset("raw", shape=(free // 8 + 1, 1, 8), dtype="uint8", chunks=(1024, 1, 8))
    with pytest.raises(OSError, match=r"^output_dir '.*out' has .* free but predicting 1 volume needs about"):
        check_prediction_space(volumes / "out", [huge], "raw", 1, "float32")
    assert not (volumes / "out").exists()


def test_blockwise_room_on_the_models_grid(volumes, tmp_path):
    a = volumes / "a.h5"
    # predicted on a 20 x 20 x 30 model grid (z voxels twice as many): partials of 2 channels and the weights, and
    # the 2-channel predictions kept on that grid until written back, all float32
    on_model_grid = lambda path, spatial: (20, 20, 30)  # noqa: E731
    assert prediction_bytes(a, "raw", 2, "float16", blockwise=True, block_grid=on_model_grid) == (
        2 * 2 * 6000,
        3 * 4 * 12000 + 2 * 4 * 12000,
    )
    assert prediction_bytes(a, "raw", 2, "float16", blockwise=True, block_grid=lambda path, spatial: None) == (
        2 * 2 * 6000,
        3 * 4 * 6000,
    )
    # the checks ask the chain's resampling step for the model's grid of an input that it resamples
    with h5py.File(a, "a") as f:
        f["raw"].attrs["element_size_um"] = [2.0, 0.5, 1.0]
    assert prediction_grid(ToModelGridd("image", voxel_size=[1.0, 1.0, 1.0]))(a, (10, 20, 30)) == (20, 10, 30)
    assert prediction_grid(ToModelGridd("image", voxel_size=[1.0, 1.0, 1.0], enabled=False))(a, (10, 20, 30)) is None
    assert prediction_grid(None)(a, (10, 20, 30)) is None
