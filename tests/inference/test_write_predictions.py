import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from monai.transforms import Compose
from skimage.io import imread

from unet3d_monai.inference import Segmentd, WritePredictionsd, WritePreviewd


def _sample(path, affine=None):
    pred = torch.tensor([[[[0.2, 0.9], [0.6, 0.4]]]])  # (1, 1, 2, 2)
    meta = {"filename_or_obj": str(path), "affine": np.eye(4) if affine is None else affine}
    return {"image": torch.zeros(1, 1, 2, 2), "image_meta_dict": meta, "pred": pred}


def test_hdf5_predictions_and_segmentation_written_and_renamed(tmp_path):
    chain = Compose([Segmentd("pred", mode="threshold"), WritePredictionsd("pred", tmp_path / "out", "uint8")])
    d = chain(_sample(tmp_path / "in" / "cells.h5"))
    assert d["pred_path"] == tmp_path / "out" / "cells_predictions.h5"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cells_predictions.h5"]
    with h5py.File(d["pred_path"], "r") as f:
        # 0.2, 0.9, 0.6, 0.4 scaled to 0..255 and rounded
        assert f["predictions"][()].ravel().tolist() == [51, 230, 153, 102]
        assert f["segmentation"][()].ravel().tolist() == [0, 1, 1, 0]
    with pytest.raises(RuntimeError) as error:
        chain(_sample(tmp_path / "in" / "cells.h5"))
    assert isinstance(error.value.__cause__, FileExistsError)


def test_nifti_output_keeps_the_affine_and_preview_is_written(tmp_path):
    affine = np.diag([0.5, 0.5, 2.0, 1.0])
    chain = Compose(
        [
            Segmentd("pred", mode="threshold", threshold=0.5),
            WritePredictionsd("pred", tmp_path),
            WritePreviewd("pred", tmp_path),
        ]
    )
    chain(_sample(tmp_path / "ct.nii.gz", affine))
    image = nib.load(str(tmp_path / "ct_predictions.nii.gz"))
    np.testing.assert_array_equal(image.affine, affine)
    np.testing.assert_allclose(np.asarray(image.dataobj), [[[0.2, 0.9], [0.6, 0.4]]], rtol=1e-6)
    labels = np.asarray(nib.load(str(tmp_path / "ct_segmentation.nii.gz")).dataobj)
    assert labels.ravel().tolist() == [0, 1, 1, 0]
    # one 2x2 plane of the input and one of the prediction, 4 pixels apart
    assert imread(tmp_path / "ct_preview.png").shape == (2, 2 + 4 + 2)


def test_an_existing_output_is_replaced_with_overwrite(tmp_path):
    (tmp_path / "cells_predictions.h5").write_bytes(b"old")
    WritePredictionsd("pred", tmp_path, overwrite="true")(_sample(tmp_path / "in" / "cells.h5"))
    with h5py.File(tmp_path / "cells_predictions.h5", "r") as f:
        np.testing.assert_allclose(f["predictions"][()].ravel(), [0.2, 0.9, 0.6, 0.4], rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells_predictions.h5"]


@pytest.mark.parametrize("blockwise", [False, True])
def test_outputs_carry_the_inputs_voxel_size(tmp_path, blockwise):
    """predictions and segmentation record the input's element_size_um (in memory into HDF5, block-wise into zarr),
    and read back as the input's voxel size."""
    from monai.inferers import SlidingWindowInferer

    from tests.inference._networks import TinyNet
    from unet3d_monai.inference import VolumePredictor
    from unet3d_monai.io.voxel_size import read_voxel_size

    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["raw"] = np.random.RandomState(0).rand(12, 20, 18).astype(np.float32)
        f["raw"].attrs["element_size_um"] = [2.0, 0.5, 0.5]
    if blockwise:
        pytest.importorskip("zarr", reason="needs the optional extra 'distributed' (zarr)")
    options = {"output_format": "zarr", "block_shape": (6, 10, 10)} if blockwise else {}
    predictor = VolumePredictor(
        TinyNet(), SlidingWindowInferer((8, 8, 8)), tmp_path / "out", device="cpu", progress=False,
        save_segmentation=True, blockwise=blockwise, **options,
    )  # fmt: skip
    (written,) = predictor.run(tmp_path / "a.h5")
    for name in ("predictions", "segmentation"):
        assert read_voxel_size(written, name) == ((2.0, 0.5, 0.5), "element_size_um"), name
