"""bioimage.io export: every bundle's package passes bioimageio.core's own test, offline, and loads back."""

import gc
import json
import socket
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from monai.bundle import ConfigParser
from monai.bundle import run as run_bundle

from unet3d_monai.compat import load_network_weights
from unet3d_monai.export import export_bioimageio, network_definition
from unet3d_monai.export.architecture import NETWORK_CLASSES
from unet3d_monai.inference import predict
from unet3d_monai.networks import UNet2D, UNet3D

bioimageio_core = pytest.importorskip(
    "bioimageio.core", reason='needs the extra: pip install "unet3d-monai[bioimageio]"'
)

ROOT = Path(__file__).resolve().parents[2]

# task -> (overrides keeping the bundle's network class but small, patch, input step, post-processing ids)
CASES = {
    "boundary": ({"network_def#f_maps": [4, 8, 16], "network_def#num_groups": 2}, [8, 16, 16], 4, ["sigmoid"]),
    "lightsheet_boundary": (
        {"network_def#f_maps": [4, 8, 16], "network_def#num_groups": 2},
        [8, 16, 16],
        4,
        ["sigmoid"],
    ),
    "nuclei": ({"network_def#f_maps": [4, 8], "network_def#num_groups": 2}, [8, 12, 16], 2, ["sigmoid"]),
    "denoising": ({"network_def#f_maps": [4, 8], "network_def#num_groups": 2}, [8, 16, 16], 2, []),
    "multiclass": ({"network_def#f_maps": [4, 8], "network_def#num_groups": 2}, [8, 16, 16], 2, ["softmax"]),
    "dsb2018_2d": ({"network_def#f_maps": [4, 8, 16]}, [24, 32], 4, ["sigmoid"]),
}
BUNDLE_CLASSES = {
    "boundary": "UNet3D",
    "lightsheet_boundary": "ResidualUNet3D",
    "nuclei": "UNet3D",
    "denoising": "UNet3D",
    "multiclass": "UNet3D",
    "dsb2018_2d": "UNet2D",
}
DOIS = {"10.1007/978-3-319-46723-8_49", "10.7554/eLife.57613"}


@pytest.fixture(autouse=True)
def quick_runtime():
    """One intra-op thread (the networks here are tiny, and on a busy machine a second thread only waits) and the
    heap frozen for the garbage collector: bioimageio.core calls ``gc.collect()`` after each model it unloads, which
    would otherwise walk every object of torch and MONAI each time (about a second per call)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gc.freeze()
    yield
    gc.unfreeze()
    torch.set_num_threads(threads)


@pytest.fixture
def offline(monkeypatch):
    """Refuse (and count) every attempt to open a network connection or resolve a host name."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access is not allowed in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
    assert attempts == [], f"tried to reach the network: {attempts}"


def _config(task):
    return ROOT / "bundles" / task / "inference.json"


def _random_network(task, overrides, path, seed=0):
    parser = ConfigParser()
    parser.read_config(str(_config(task)))
    parser.update(overrides)
    torch.manual_seed(seed)
    network = parser.get_parsed_content("network_def").eval()
    torch.save(network.state_dict(), path)
    return network


def _read_rdf(package):
    with zipfile.ZipFile(package) as archive:
        return yaml.safe_load(archive.read("rdf.yaml")), archive


def _member(package, name):
    with zipfile.ZipFile(package) as archive:
        return archive.read(name)


def _npy(package, name, tmp_path):
    (tmp_path / name).write_bytes(_member(package, name))
    return np.load(tmp_path / name)


def _reference_output(network, window, post):
    """The network's output on the standardised window, computed independently of the export."""
    x = window.astype(np.float64)
    x = (x - x.mean()) / x.std()
    with torch.no_grad():
        logits = network(torch.from_numpy(x.astype(np.float32)))
    if post == ["sigmoid"]:
        return torch.sigmoid(logits).numpy()
    if post == ["softmax"]:
        return torch.softmax(logits, dim=1).numpy()
    return logits.numpy()


@pytest.mark.parametrize("task", sorted(CASES))
def test_every_bundle_exports_a_package_that_bioimageio_core_accepts(task, tmp_path, offline):
    overrides, patch, step, post = CASES[task]
    network = _random_network(task, overrides, tmp_path / "model.pt")
    assert type(network).__name__ == BUNDLE_CLASSES[task]
    package = tmp_path / f"{task}.zip"
    run_bundle(
        run_id="export_bioimageio",
        config_file=str(_config(task)),
        ckpt_path=str(tmp_path / "model.pt"),
        output=str(package),
        patch_size=patch,
        **overrides,
    )

    summary = bioimageio_core.test_model(package)
    assert summary.status == "passed", summary.format()
    tested = " ".join(detail.name for detail in summary.details)
    assert "pytorch_state_dict" in tested and "torchscript" in tested

    rdf, _ = _read_rdf(package)
    spatial = ["z", "y", "x"][-len(patch) :]
    (raw,) = rdf["inputs"]
    assert [axis.get("id", axis["type"]) for axis in raw["axes"]] == ["batch", "channel", *spatial]
    assert [axis["size"] for axis in raw["axes"][2:]] == [{"min": p, "step": step} for p in patch]
    assert [op["id"] for op in raw["preprocessing"]] == ["ensure_dtype", "zero_mean_unit_variance", "ensure_dtype"]
    assert raw["preprocessing"][1]["kwargs"]["axes"] == ["channel", *spatial]
    (prediction,) = rdf["outputs"]
    assert [op["id"] for op in prediction["postprocessing"]] == [*post, "ensure_dtype"]
    assert [axis["halo"] for axis in prediction["axes"][2:]] == [p // 8 for p in patch]
    architecture = rdf["weights"]["pytorch_state_dict"]["architecture"]
    assert architecture["import_from"] == "unet3d_monai.networks"
    assert architecture["callable"] == BUNDLE_CLASSES[task]
    assert {entry["doi"] for entry in rdf["cite"]} >= DOIS
    metadata = json.loads((ROOT / "bundles" / task / "metadata.json").read_text())
    assert rdf["name"] == metadata["name"] and rdf["license"] == "MIT"
    bundle_tags = json.loads(_config(task).read_text())["bioimageio"]["tags"]
    assert set(bundle_tags) <= set(rdf["tags"]) and f"{len(patch)}d" in rdf["tags"]
    documentation = _member(package, rdf["documentation"]["source"]).decode()
    assert documentation.startswith((ROOT / "bundles" / task / "README.md").read_text().splitlines()[0])
    assert "\n## Validation\n" in documentation
    assert _member(package, rdf["covers"][0]["source"]).startswith(b"\x89PNG")
    assert rdf["config"]["unet3d_monai"]["patch_size"] == patch

    # the test tensors: a patch of the synthetic sample data and the original network's output on it
    window = _npy(package, "test_input.npy", tmp_path)
    assert window.shape == (1, 1, *patch) and window.dtype == np.float32 and window.std() > 0
    expected = _reference_output(network, window, post)
    np.testing.assert_allclose(_npy(package, "test_output.npy", tmp_path), expected, rtol=1e-4, atol=1e-5)

    # re-imported, from the package's own architecture description, it predicts what the original weights do
    rebuilt = NETWORK_CLASSES[architecture["callable"]](**architecture["kwargs"])
    rebuilt = load_network_weights(rebuilt, package).eval()
    x = torch.randn(2, 1, *[p + step for p in patch])
    with torch.no_grad():
        assert torch.equal(rebuilt(x), network(x))


def test_inference_bundle_predicts_from_a_package_as_from_the_weights(tmp_path, offline):
    overrides, patch, _, _ = CASES["boundary"]
    network = _random_network("boundary", overrides, tmp_path / "model.pt")
    folder = tmp_path / "package"
    run_bundle(
        run_id="export_bioimageio",
        config_file=str(_config("boundary")),
        ckpt_path=str(tmp_path / "model.pt"),
        output=str(folder),
        patch_size=patch,
        **overrides,
    )
    assert (folder / "rdf.yaml").is_file() and (folder / "weights.pt").is_file()
    raw = np.random.default_rng(0).normal(100, 10, (12, 20, 18)).astype(np.float32)
    with h5py.File(tmp_path / "vol.h5", "w") as f:
        f["raw"] = raw
    for name, ckpt in (("weights", tmp_path / "model.pt"), ("package", folder)):
        run_bundle(
            config_file=str(_config("boundary")),
            input=str(tmp_path / "vol.h5"),
            ckpt_path=str(ckpt),
            output_dir=str(tmp_path / name),
            roi_size=[8, 16, 16],
            device="cpu",
            progress=False,
            cpu_bf16=False,  # compared with float32 predict() below
            **overrides,
        )
    with (
        h5py.File(tmp_path / "weights" / "vol_predictions.h5") as a,
        h5py.File(tmp_path / "package" / "vol_predictions.h5") as b,
    ):
        np.testing.assert_array_equal(a["predictions"][()], b["predictions"][()])
    expected = predict(network, (raw - raw.mean()) / raw.std(), (8, 16, 16), device="cpu")
    with h5py.File(tmp_path / "package" / "vol_predictions.h5") as f:
        np.testing.assert_allclose(f["predictions"][()], expected, atol=1e-5)


def test_the_training_record_decides_network_patch_and_normalisation(tmp_path, offline):
    torch.manual_seed(1)
    network = UNet2D(1, 1, f_maps=[4, 8], layer_order="bcr", pool_kernel_size=(2, 4)).eval()
    torch.save(network.state_dict(), tmp_path / "model.pt")
    record = {
        "network": network_definition(network),
        "spatial_dims": 2,
        "patch_size": [1, 16, 24],
        "normalization": "percentile",
        "final_activation": "sigmoid",
        "task": "dsb2018_2d",
    }
    (tmp_path / "model.json").write_text(json.dumps(record))
    package = export_bioimageio(
        tmp_path / "out.zip",
        tmp_path / "model.pt",
        UNet3D(1, 1, f_maps=8),  # the bundle's architecture is not what was trained: the record wins
        patch_size=(32, 64, 64),
        normalization="standardize",
        bundle_dir=ROOT / "bundles" / "dsb2018_2d",
        authors=["Ada Lovelace", {"name": "Grace Hopper", "affiliation": "Yale"}],
        tags=["my-tag"],
        license="CC-BY-4.0",
    )
    summary = bioimageio_core.test_model(package)
    assert summary.status == "passed", summary.format()
    rdf, _ = _read_rdf(package)
    (raw,) = rdf["inputs"]
    assert [axis["size"] for axis in raw["axes"][2:]] == [{"min": 16, "step": 2}, {"min": 24, "step": 4}]
    scale_range = raw["preprocessing"][1]
    assert scale_range["id"] == "scale_range"
    assert (scale_range["kwargs"]["min_percentile"], scale_range["kwargs"]["max_percentile"]) == (1.0, 99.6)
    assert rdf["authors"] == [{"name": "Ada Lovelace"}, {"name": "Grace Hopper", "affiliation": "Yale"}]
    assert rdf["license"] == "CC-BY-4.0" and "my-tag" in rdf["tags"]
    assert rdf["config"]["unet3d_monai"]["normalization"] == "percentile"
    window = _npy(package, "test_input.npy", tmp_path)
    low, high = np.percentile(window.astype(np.float64), [1.0, 99.6])
    with torch.no_grad():
        logits = network(torch.from_numpy(((window - low) / (high - low)).astype(np.float32)))
    np.testing.assert_allclose(_npy(package, "test_output.npy", tmp_path), torch.sigmoid(logits), atol=1e-5)
    # exporting the package again keeps its record
    again = export_bioimageio(tmp_path / "again.zip", package)
    assert _read_rdf(again)[0]["config"]["unet3d_monai"] == rdf["config"]["unet3d_monai"]


def test_a_given_image_becomes_the_test_input(tmp_path, offline):
    torch.manual_seed(0)
    network = UNet3D(2, 1, f_maps=[4, 8], num_groups=2).eval()
    torch.save(network.state_dict(), tmp_path / "model.pt")
    image = np.random.default_rng(1).random((2, 10, 20, 30)).astype(np.float32)
    package = export_bioimageio(
        tmp_path / "out.zip", tmp_path / "model.pt", network, (8, 16, 16), "none", test_input=image
    )
    window = _npy(package, "test_input.npy", tmp_path)
    np.testing.assert_array_equal(window[0], image[:, 1:9, 2:18, 7:23])
    rdf, _ = _read_rdf(package)
    assert [op["id"] for op in rdf["inputs"][0]["preprocessing"]] == ["ensure_dtype"]
    assert rdf["inputs"][0]["axes"][1]["channel_names"] == ["channel0", "channel1"]
    with pytest.raises(ValueError, match="one channel but the network takes 2"):
        export_bioimageio(tmp_path / "b.zip", tmp_path / "model.pt", network, (8, 16, 16), "none", "boundary")


def test_bad_options_get_one_sentence(tmp_path):
    torch.manual_seed(0)
    network = UNet3D(1, 1, f_maps=[4, 8], num_groups=2).eval()
    torch.save(network.state_dict(), tmp_path / "model.pt")
    common = {"ckpt_path": tmp_path / "model.pt", "network": network, "sample_task": "boundary"}
    (tmp_path / "taken.zip").write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="taken.zip exists; pass overwrite=True"):
        export_bioimageio(tmp_path / "taken.zip", patch_size=(8, 16, 16), normalization="standardize", **common)
    assert (tmp_path / "taken.zip").read_bytes() == b"keep me"
    with pytest.raises(ValueError, match=r"patch_size \[1, 16, 16\] from the arguments is smaller than"):
        export_bioimageio(tmp_path / "a.zip", patch_size=(1, 16, 16), normalization="standardize", **common)
    with pytest.raises(ValueError, match="normalization from the arguments must be one of"):
        export_bioimageio(tmp_path / "a.zip", patch_size=(8, 16, 16), normalization="zscore", **common)
    with pytest.raises(ValueError, match="license 'Mine' is not an SPDX identifier"):
        export_bioimageio(
            tmp_path / "a.zip", patch_size=(8, 16, 16), normalization="standardize", license="Mine", **common
        )
    with pytest.raises(ValueError, match="each author must be a name or a mapping"):
        export_bioimageio(
            tmp_path / "a.zip", patch_size=(8, 16, 16), normalization="standardize", authors=[{"github": "x"}], **common
        )
    (tmp_path / "model.json").write_text(json.dumps({"network": {"_target_": "torch.nn.Linear", "in_features": 1}}))
    with pytest.raises(ValueError, match=r"model.json: '_target_' must name one of unet3d_monai.networks.UNet3D"):
        export_bioimageio(tmp_path / "a.zip", **common)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.pt", "taken.zip"]
