"""pytorch-3dunet's transformer lists as one MONAI chain: what each transform becomes, arrays moving together, and
the normalisation used for prediction."""

import math

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.utils import set_determinism

from unet3d_monai.compat import ConfigKeyError
from unet3d_monai.compat.seed_transforms import convert_transformer, prediction_normalization

WHERE = "loaders.train.transformer"


def _convert(raw, label=None, **kwargs):
    transformer = {"raw": raw} if label is None else {"raw": raw, "label": label}
    options = {"spatial_dims": 3, "global_normalization": True, **kwargs}
    return convert_transformer(transformer, WHERE, "train.yml", **options)


def _targets(chain):
    return [(t["_target_"], t["keys"]) for t in chain.transforms]


def test_geometry_named_in_both_lists_moves_image_and_label_together():
    raw = [{"name": "Standardize"}, {"name": "RandomFlip"}, {"name": "RandomRotate90"},
           {"name": "RandomRotate", "axes": [[2, 1]], "angle_spectrum": 30, "order": 3},
           {"name": "ElasticDeformation", "spline_order": 3}, {"name": "GaussianBlur3D"},
           {"name": "ToTensor", "expand_dims": True}]  # fmt: skip
    label = [{"name": "RandomFlip"}, {"name": "RandomRotate90"}, {"name": "RandomRotate", "axes": [[2, 1]],
             "angle_spectrum": 30}, {"name": "ElasticDeformation", "spline_order": 0},
             {"name": "StandardLabelToBoundary", "append_label": True},
             {"name": "ToTensor", "expand_dims": False}]  # fmt: skip
    chain = _convert(raw, label)
    both = ["image", "label"]
    assert _targets(chain) == [
        ("unet3d_monai.data.Normalized", "image"),
        ("RandFlipd", both),
        ("RandFlipd", both),
        ("RandFlipd", both),
        ("RandRotate90d", both),
        ("RandRotated", both),
        ("RandSmoothDeformd", both),
        ("RandGaussianSmoothd", "image"),
        ("unet3d_monai.data.transforms.LabelToBoundaryd", "label"),
        ("EnsureTyped", "image"),
        ("EnsureTyped", "label"),
    ]
    rotate, deform = chain.transforms[5], chain.transforms[6]
    assert rotate["mode"] == ["bilinear", "nearest"] and rotate["range_x"] == pytest.approx(math.radians(30))
    assert deform["grid_mode"] == ["bilinear", "nearest"]
    assert [t["prob"] for t in chain.transforms[1:4]] == [0.5, 0.5, 0.5]
    assert [t["spatial_axis"] for t in chain.transforms[1:4]] == [0, 1, 2]
    assert chain.transforms[0]["stats_key"] == "image_stats" and chain.transforms[0]["mode"] == "standardize"
    assert any("order 3 is approximated" in n.message for n in chain.notes)


@pytest.mark.parametrize("seed", [0, 1])
def test_converted_geometry_keeps_image_and_label_aligned(seed):
    geometry = [{"name": "RandomFlip"}, {"name": "RandomRotate90"}, {"name": "RandomRotate", "angle_spectrum": 45,
                "axes": [[2, 1], [1, 0]]}, {"name": "ElasticDeformation", "spline_order": 0,
                "execution_probability": 1.0}]  # fmt: skip
    chain = _convert([*geometry, {"name": "ToTensor", "expand_dims": True}], [*geometry])
    compose = ConfigParser({"t": {"_target_": "Compose", "transforms": chain.transforms}, "patch_size": [12, 16, 16]})
    rng = np.random.default_rng(0)
    label = rng.integers(1, 6, size=(1, 6, 8, 8)).repeat(2, axis=1).repeat(2, axis=2).repeat(2, axis=3)
    sample = {"image": (10.0 * label + 1.0).astype(np.float32), "label": label.astype(np.float32)}
    set_determinism(seed=seed)
    try:
        out = compose.get_parsed_content("t")(sample)
    finally:
        set_determinism(seed=None)
    np.testing.assert_array_equal(out["image"].numpy(), 10.0 * out["label"].numpy() + 1.0)
    assert not np.array_equal(out["label"].numpy(), sample["label"])


def test_rotation_planes_flip_probability_and_noise_options():
    chain = _convert([{"name": "RandomRotate", "angle_spectrum": 15, "axes": [[1, 0], [2, 0]], "mode": "constant"},
                      {"name": "RandomFlip", "axis_prob": 0.2},
                      {"name": "AdditiveGaussianNoise", "scale": [0.0, 0.5], "execution_probability": 0.3},
                      {"name": "AdditivePoissonNoise", "lam": [0.0, 2.0]},
                      {"name": "Normalize"}])  # fmt: skip
    rotate, flip, noise, poisson, scale = chain.transforms[0], chain.transforms[1], *chain.transforms[4:7]
    assert rotate["range_z"] == rotate["range_y"] == pytest.approx(math.radians(15)) and "range_x" not in rotate
    assert rotate["padding_mode"] == "zeros" and rotate["mode"] == ["nearest"]
    assert flip["prob"] == pytest.approx(0.8)
    assert (noise["prob"], noise["std"], noise["sample_std"]) == (0.3, 0.5, True)
    assert (poisson["prob"], poisson["lam"]) == (0.1, [0.0, 2.0])
    assert (scale["_target_"], scale["minv"], scale["maxv"]) == ("ScaleIntensityd", -1.0, 1.0)
    assert any("one angle for each plane" in n.message for n in chain.notes)


def test_geometry_in_one_list_only_is_reported():
    chain = _convert([{"name": "RandomFlip"}], [{"name": "BlobsToMask", "append_label": True}])
    assert _targets(chain)[:3] == [("RandFlipd", "image")] * 3
    assert chain.notes[0].key == f"{WHERE}.raw[0].RandomFlip"
    assert chain.notes[0].message == f"has no counterpart in the label list of {WHERE}: it does not move label."


def test_2d_patches_of_a_3d_stack_lose_their_singleton_z():
    chain = _convert([{"name": "ToTensor", "expand_dims": True}], [{"name": "ToTensor", "expand_dims": False,
                     "dtype": "int64"}], squeeze_z=True)  # fmt: skip
    assert chain.transforms[0] == {"_target_": "SqueezeDimd", "keys": ["image", "label"], "dim": 1}
    assert chain.transforms[2]["dtype"] == "$torch.int64"
    parser = ConfigParser({"t": {"_target_": "Compose", "transforms": chain.transforms}})
    out = parser.get_parsed_content("t")({"image": np.zeros((1, 1, 8, 8)), "label": np.ones((1, 1, 8, 8))})
    assert out["image"].shape == (1, 8, 8) and out["label"].dtype == torch.int64


def test_unknown_transform_or_option_names_the_closest():
    with pytest.raises(ConfigKeyError, match=r"unknown transform name at loaders.train.transformer.raw\[0\] "
                                             r"'RandomFlips'; did you mean 'RandomFlip'"):  # fmt: skip
        _convert([{"name": "RandomFlips"}])
    with pytest.raises(ConfigKeyError, match=r"raw\[0\].RandomRotate.angle_spectrums'; did you mean 'angle_spectrum'"):
        _convert([{"name": "RandomRotate", "angle_spectrums": 10}])
    with pytest.raises(ConfigKeyError, match="LabelToAffinities has no equivalent here"):
        _convert([{"name": "Standardize"}], [{"name": "LabelToAffinities", "offsets": [1]}])


@pytest.mark.parametrize(
    "raw, expected",
    [
        ([{"name": "Standardize"}, {"name": "ToTensor", "expand_dims": True}], ("standardize", 1.0, 0.0)),
        ([{"name": "PercentileNormalizer"}], ("percentile", 1.0, 0.0)),
        ([{"name": "Normalize"}], ("minmax", 2.0, -1.0)),
        ([{"name": "Normalize", "norm01": True}], ("minmax", 1.0, 0.0)),
        ([{"name": "ToTensor", "expand_dims": True}], ("none", 1.0, 0.0)),
    ],
)
def test_prediction_normalization(raw, expected):
    mode, scale, offset, notes = prediction_normalization(raw, "loaders.test.transformer", "test.yml", True)
    assert (mode, scale, offset) == expected and notes == []


def test_prediction_normalization_reports_what_it_cannot_do():
    raw = [{"name": "Standardize", "mean": 3.0, "std": 2.0}, {"name": "RandomFlip"}]
    mode, _, _, notes = prediction_normalization(raw, "loaders.test.transformer", "test.yml", False)
    assert mode == "standardize"
    assert [n.key for n in notes] == [
        "loaders.test.transformer.raw[0].Standardize",
        "loaders.test.transformer.raw[1].RandomFlip",
        "loaders.test.transformer.raw",
    ]
