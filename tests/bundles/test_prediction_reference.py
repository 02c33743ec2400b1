"""Every inference bundle gives the predictions recorded in ``tests/fixtures/bundle_predictions/reference.h5``.

The reference holds, per case, the weights of a tiny seeded network (``weights/<name>``), the bundle options
(``options`` attribute, JSON) and every dataset the bundle wrote (``outputs/<file>/<dataset>``); the inputs are
made again by :func:`make_input` (uint16 noise from a fixed seed). It was recorded with the bundles as they were
before their prediction chain was written out in ``inference.json``; to record it again (only when a change of the
results is intended): ``python -m tests.bundles.test_prediction_reference``.
The ``boundary`` segmentation was recomputed from its recorded probabilities when ``boundary_distance_watershed``
started merging segments across weak borders (the probabilities are as first recorded).
"""

import json
import sys
import tempfile
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.bundle import run as run_bundle

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "fixtures" / "bundle_predictions" / "reference.h5"

SMALL_3D = {"network_def#f_maps": [4, 8], "network_def#num_groups": 2}
# case -> (bundle, network overrides, input shape, input format, bundle options)
CASES = {
    "boundary": ("boundary", SMALL_3D, (11, 21, 19), "h5", {"roi_size": [8, 16, 16], "save_segmentation": True}),
    "boundary_tta_uint8": (
        "boundary",
        SMALL_3D,
        (11, 21, 19),
        "h5",
        {"roi_size": [8, 16, 16], "tta": True, "output_dtype": "uint8", "overlap": 0.5},
    ),
    "boundary_blockwise": (
        "boundary",
        SMALL_3D,
        (11, 21, 19),
        "h5",
        {
            "roi_size": [8, 16, 16],
            "blockwise": True,
            "block_shape": [6, 11, 10],
            "save_segmentation": True,
            "segmentation_mode": "threshold",
        },
    ),
    "boundary_nifti": (
        "boundary",
        SMALL_3D,
        (19, 21, 11),
        "nii",
        {"roi_size": [16, 16, 8], "save_segmentation": True, "segmentation_mode": "boundary_components"},
    ),
    "lightsheet_boundary": (
        "lightsheet_boundary",
        SMALL_3D,
        (11, 21, 19),
        "h5",
        {"roi_size": [8, 16, 16], "save_segmentation": True},
    ),
    "nuclei": ("nuclei", SMALL_3D, (11, 21, 19), "h5", {"roi_size": [8, 16, 16], "save_segmentation": True}),
    "nuclei_nonfinite": (
        "nuclei",
        SMALL_3D,
        (11, 21, 19),
        "nan",
        {"roi_size": [8, 16, 16], "replace_nonfinite": 0.0, "normalization": "percentile"},
    ),
    "denoising": ("denoising", SMALL_3D, (11, 21, 19), "h5", {"roi_size": [8, 16, 16], "output_dtype": "float16"}),
    "multiclass": ("multiclass", SMALL_3D, (11, 21, 19), "h5", {"roi_size": [8, 16, 16], "save_segmentation": True}),
    "dsb2018_2d": (
        "dsb2018_2d",
        {"network_def#f_maps": [4, 8]},
        (1, 21, 26),
        "h5",
        {"roi_size": [1, 16, 16], "save_segmentation": True},
    ),
}


def make_input(case: str, folder: Path) -> Path:
    """The input volume of ``case``, written into ``folder`` (uint16 noise from a fixed seed; one NaN voxel for the
    ``nan`` format)."""
    _, _, shape, kind, _ = CASES[case]
    raw = (np.random.RandomState(0).rand(*shape) * 1000).astype(np.uint16)
    if kind == "nii":
        path = folder / "vol.nii.gz"
        nib.save(nib.Nifti1Image(raw.astype(np.float32), np.diag([0.5, 0.5, 2.0, 1.0])), str(path))
        return path
    path = folder / "vol.h5"
    with h5py.File(path, "w") as f:
        if kind == "nan":
            data = raw.astype(np.float32)
            data[2, 3, 4] = np.nan
            f["raw"] = data
        else:
            f["raw"] = raw
    return path


def make_network(case: str) -> torch.nn.Module:
    bundle, network_overrides, _, _, _ = CASES[case]
    parser = ConfigParser()
    parser.read_config(str(ROOT / "bundles" / bundle / "inference.json"))
    parser.update(network_overrides)
    torch.manual_seed(0)
    return parser.get_parsed_content("network_def")


def run_case(case: str, folder: Path, weights: dict[str, torch.Tensor]) -> Path:
    """Run the bundle of ``case`` on its input with ``weights``; returns the output folder."""
    bundle, network_overrides, _, _, options = CASES[case]
    path = make_input(case, folder)
    torch.save(weights, folder / "model.pt")
    run_bundle(
        config_file=str(ROOT / "bundles" / bundle / "inference.json"),
        input=str(path),
        ckpt_path=str(folder / "model.pt"),
        output_dir=str(folder / "out"),
        device="cpu",
        progress=False,
        cpu_bf16=False,  # float32, as recorded (bfloat16 autocast is the default on CPUs that compute it natively)
        **network_overrides,
        **options,
    )
    return folder / "out"


def read_outputs(out: Path) -> dict[str, np.ndarray]:
    """Every array written into ``out``: ``<file>/<dataset>`` for HDF5, ``<file>`` for NIfTI."""
    arrays = {}
    for path in sorted(out.iterdir()):
        if path.name.endswith(".h5"):
            with h5py.File(path, "r") as f:
                for key in f:
                    arrays[f"{path.name}/{key}"] = f[key][()]
        elif path.name.endswith(".nii.gz"):
            arrays[path.name] = np.asarray(nib.load(str(path)).dataobj)
    return arrays


@pytest.mark.parametrize("case", sorted(CASES))
def test_bundle_predictions_equal_the_reference(case, tmp_path):
    with h5py.File(REFERENCE, "r") as reference:
        group = reference[case]
        assert json.loads(group.attrs["options"]) == CASES[case][4]
        weights = {
            name: torch.as_tensor(np.asarray(group[f"weights/{name}"][()])) for name in make_network(case).state_dict()
        }
        expected = {}
        group["outputs"].visititems(
            lambda name, item: expected.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
        )
    outputs = read_outputs(run_case(case, tmp_path, weights))
    assert sorted(outputs) == sorted(expected)
    for name, array in expected.items():
        assert outputs[name].dtype == array.dtype, name
        assert outputs[name].shape == array.shape, name
        if array.dtype.kind == "f":
            np.testing.assert_allclose(outputs[name], array, rtol=0, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(outputs[name], array, err_msg=name)


def main() -> None:
    with h5py.File(REFERENCE, "w") as reference:
        for case in CASES:
            weights = make_network(case).state_dict()
            with tempfile.TemporaryDirectory() as tmp:
                outputs = read_outputs(run_case(case, Path(tmp), weights))
            group = reference.create_group(case)
            group.attrs["options"] = json.dumps(CASES[case][4])
            for name, tensor in weights.items():
                group[f"weights/{name}"] = tensor.numpy()
            for name, array in outputs.items():
                group.create_dataset(f"outputs/{name}", data=array, compression="gzip")
            print(case, {k: (v.shape, v.dtype) for k, v in outputs.items()}, file=sys.stderr)


if __name__ == "__main__":
    main()
