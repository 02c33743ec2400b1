import h5py
import numpy as np
import pytest
from monai.inferers import SlidingWindowInferer
from skimage.io import imread

from tests.inference._networks import TinyNet
from unet3d_monai.inference import VolumePredictor, preview_image
from unet3d_monai.inference.preview import GAP, central_slices
from unet3d_monai.inference.volumes import ArrayVolume


def test_central_slices_read_the_three_middle_planes():
    volume = np.arange(2 * 5 * 6 * 7, dtype=np.float32).reshape(2, 5, 6, 7)
    yx, zx, yz = central_slices(ArrayVolume(volume))
    np.testing.assert_array_equal(yx, volume[:, 2])
    np.testing.assert_array_equal(zx, volume[:, :, 3])
    np.testing.assert_array_equal(yz, np.swapaxes(volume[:, :, :, 3], 1, 2))


def test_preview_lays_out_input_and_probabilities():
    rng = np.random.RandomState(0)
    volume = rng.normal(size=(1, 5, 6, 7)).astype(np.float32)
    probabilities = rng.rand(2, 5, 6, 7).astype(np.float32)
    image = preview_image(ArrayVolume(volume), ArrayVolume(probabilities))
    panel_h, panel_w = 6 + GAP + 5, 7 + GAP + 5
    assert image.dtype == np.uint8 and image.shape == (panel_h, 3 * panel_w + 2 * GAP)
    for channel in range(2):
        left = (channel + 1) * (panel_w + GAP)
        panel = image[:, left : left + panel_w]
        np.testing.assert_array_equal(panel[:6, :7], np.rint(probabilities[channel, 2] * 255))  # YX, middle z
        np.testing.assert_array_equal(panel[:6, 7 + GAP :], np.rint(probabilities[channel, :, :, 3].T * 255))  # YZ
        np.testing.assert_array_equal(panel[6 + GAP :, :7], np.rint(probabilities[channel, :, 3] * 255))  # ZX
    # the input spans black to white between the 1st and 99th percentiles of its three planes; the gaps are white
    planes = np.concatenate([volume[0, 2].ravel(), volume[0, :, 3].ravel(), volume[0, :, :, 3].ravel()])
    low, high = np.percentile(planes, (1, 99))
    expected = np.rint(np.clip((volume[0, 2] - low) / (high - low), 0, 1) * 255)
    np.testing.assert_allclose(image[:6, :7], expected, atol=1)
    assert (image[:, panel_w : panel_w + GAP] == 255).all()


def test_large_panels_are_shrunk_and_2d_images_show_one_plane():
    image = preview_image(ArrayVolume(np.ones((1, 1, 600, 300))), ArrayVolume(np.zeros((1, 1, 600, 300))), max_size=200)
    assert image.shape == (200, 100 + GAP + 100)


@pytest.mark.parametrize("dtype, blockwise", [("float32", False), ("uint8", True)])
def test_predictor_writes_the_preview_next_to_the_predictions(tmp_path, dtype, blockwise):
    raw = (np.random.RandomState(0).rand(9, 14, 12) * 200).astype(np.uint16)
    with h5py.File(tmp_path / "cells.h5", "w") as f:
        f["raw"] = raw
    inferer = SlidingWindowInferer(roi_size=(8, 12, 10), overlap=0.25, mode="gaussian")
    predictor = VolumePredictor(TinyNet(), inferer, tmp_path / "out", device="cpu", progress=False,
                                output_dtype=dtype, blockwise=blockwise, preview=True)  # fmt: skip
    predictor.run(tmp_path / "cells.h5")
    image = imread(tmp_path / "out" / "cells_preview.png")
    panel_h, panel_w = 14 + GAP + 9, 12 + GAP + 9
    assert image.shape == (panel_h, 2 * panel_w + GAP)
    with h5py.File(tmp_path / "out" / "cells_predictions.h5", "r") as f:
        stored = f["predictions"][0, 4].astype(np.float32)
    expected = stored if dtype == "uint8" else np.rint(stored * 255)
    np.testing.assert_allclose(image[:14, panel_w + GAP : panel_w + GAP + 12], expected, atol=1)
    # a second run refuses to overwrite the preview as it refuses the predictions
    (tmp_path / "out" / "cells_predictions.h5").unlink()
    with pytest.raises(FileExistsError, match="cells_preview.png' already exists"):
        predictor.run(tmp_path / "cells.h5")
    assert not (tmp_path / "out" / "cells_predictions.h5").exists()
