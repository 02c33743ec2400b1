import h5py
import nibabel as nib
import numpy as np
import torch
from scipy import ndimage

from unet3d_monai.inference import VolumePredictor
from unet3d_monai.inference.inferer import FittedSlidingWindowInferer
from unet3d_monai.inference.rescale import rescale_factors, to_input_grid, to_model_grid


class Identity(torch.nn.Module):
    """A 3D 'network' whose probabilities are its input, so predictions show what the windows saw."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 1, 1, bias=False)
        torch.nn.init.ones_(self.conv.weight)
        self.final_activation = torch.nn.Identity()
        self.seen = []

    def forward(self, x):
        self.seen.append(tuple(x.shape[2:]))
        return self.conv(x)


def test_rescale_factors():
    assert rescale_factors([2.0, 1.0, 1.0], [1.0, 1.0, 1.0]) == (2.0, 1.0, 1.0)
    assert rescale_factors([1.02, 1.0, 1.0], [1.0, 1.0, 1.0]) is None
    assert rescale_factors(None, [1.0, 1.0, 1.0]) is None and rescale_factors([1, 1, 1], None) is None
    # a 2D network resamples within the slices only
    assert rescale_factors([4.0, 0.5, 0.5], [1.0, 1.0, 1.0], spatial_dims=2) == (1.0, 0.5, 0.5)


def test_resampling_round_trip_keeps_the_shape_and_a_smooth_volume():
    z, y, x = np.meshgrid(np.arange(10), np.arange(20), np.arange(30), indexing="ij")
    volume = (0.1 * z + 0.05 * y + 0.02 * x).astype(np.float32)[None]
    model = to_model_grid(volume, (2.0, 1.5, 0.5))
    assert tuple(model.shape) == (1, 20, 30, 15)
    back = to_input_grid(model, volume.shape[1:]).numpy()
    assert back.shape == volume.shape
    # a linear ramp survives away from the borders (interpolation there is clamped)
    np.testing.assert_allclose(back[:, 2:-2, 2:-2, 6:-6], volume[:, 2:-2, 2:-2, 6:-6], atol=0.03)


def test_nifti_of_another_voxel_size_is_predicted_at_the_models_and_written_on_its_grid(tmp_path):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [5.0, -3.0, 1.0]
    data = ndimage.gaussian_filter(np.random.default_rng(0).random((12, 14, 10)), 2).astype(np.float32)
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "in.nii.gz")
    network = Identity()
    inferer = FittedSlidingWindowInferer(roi_size=(64, 64, 64))
    predictor = VolumePredictor(network, inferer, tmp_path / "out", normalization="none", progress=False,
                                voxel_size=[1.0, 1.0, 1.0])  # fmt: skip
    written = nib.load(str(predictor.run(tmp_path / "in.nii.gz")[0]))
    assert network.seen == [(24, 28, 20)]  # the network saw the volume at 1.0 voxels
    assert written.shape == (12, 14, 10) or written.shape == (12, 14, 10, 1)
    np.testing.assert_array_equal(written.affine, affine)
    assert np.corrcoef(np.asarray(written.dataobj).ravel(), data.ravel())[0, 1] > 0.95


def test_rescale_false_predicts_as_is_and_blockwise_rescales_too(tmp_path):
    with h5py.File(tmp_path / "in.h5", "w") as f:
        f["raw"] = np.ones((8, 12, 12), np.float32)
        f["raw"].attrs["element_size_um"] = [2.0, 1.0, 1.0]
    inferer = FittedSlidingWindowInferer(roi_size=(64, 64, 64))
    network = Identity()
    options = {"normalization": "none", "progress": False, "voxel_size": [1.0, 1.0, 1.0]}
    VolumePredictor(network, inferer, tmp_path / "as_is", rescale="false", **options).run(tmp_path / "in.h5")
    assert network.seen == [(8, 12, 12)]
    VolumePredictor(network, inferer, tmp_path / "rescaled", **options).run(tmp_path / "in.h5")
    assert network.seen[-1] == (16, 12, 12)
    with h5py.File(tmp_path / "rescaled" / "in_predictions.h5") as f:
        assert f["predictions"].shape == (1, 8, 12, 12)
    # block-wise: the same window on the model's grid, the predictions on the input's
    VolumePredictor(network, inferer, tmp_path / "blocks", blockwise=True, **options).run(tmp_path / "in.h5")
    assert network.seen[-1] == (16, 12, 12)
    with h5py.File(tmp_path / "blocks" / "in_predictions.h5") as f:
        np.testing.assert_allclose(f["predictions"][()], np.ones((1, 8, 12, 12)), rtol=0, atol=1e-6)
    as_is = VolumePredictor(network, inferer, tmp_path / "blocks_as_is", blockwise=True, rescale=False, **options)
    as_is.run(tmp_path / "in.h5")
    assert network.seen[-1] == (8, 12, 12)
