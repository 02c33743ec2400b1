"""Reading bioimage.io model packages (zip or folder) without the bioimage.io libraries."""

import zipfile

import pytest
import torch
import yaml

from unet3d_monai.compat import (
    CheckpointMismatchError,
    NotABioimageioModelError,
    is_bioimageio_package,
    load_network_weights,
    read_bioimageio_package,
)
from unet3d_monai.networks import UNet2D


def _rdf(weights=None, config=None, kind="model"):
    rdf = {"type": kind, "format_version": "0.5.4", "name": "a small 2D U-Net"}
    if weights is not None:
        rdf["weights"] = weights
    if config is not None:
        rdf["config"] = config
    return yaml.safe_dump(rdf)


def _state_dict_weights(source="weights.pt"):
    architecture = {"callable": "UNet2D", "import_from": "unet3d_monai.networks", "kwargs": {"f_maps": [4, 8]}}
    return {"pytorch_state_dict": {"source": source, "architecture": architecture, "pytorch_version": "2.3"}}


@pytest.fixture
def network():
    torch.manual_seed(0)
    return UNet2D(1, 2, f_maps=[4, 8], num_groups=2).eval()


def _write_zip(path, network, rdf_text, rdf_name="rdf.yaml", weights_name="weights.pt"):
    weights = path.parent / f"{path.stem}_{weights_name}"
    torch.save(network.state_dict(), weights)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(rdf_name, rdf_text)
        archive.write(weights, weights_name)
    return path


def test_zip_and_folder_packages_load_their_weights(tmp_path, network):
    record = {"patch_size": [64, 64], "normalization": "percentile"}
    package = _write_zip(tmp_path / "model.zip", network, _rdf(_state_dict_weights(), {"unet3d_monai": record}))
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(folder)
    x = torch.rand(1, 1, 20, 24)
    with torch.no_grad():
        expected = network(x)
    for source in (package, folder, folder / "rdf.yaml"):
        assert is_bioimageio_package(source)
        read = read_bioimageio_package(source)
        assert read.record == record
        assert read.architecture["kwargs"] == {"f_maps": [4, 8]}
        loaded = load_network_weights(UNet2D(1, 2, f_maps=[4, 8], num_groups=2), source).eval()
        with torch.no_grad():
            assert torch.equal(loaded(x), expected)


def test_a_torch_checkpoint_is_a_zip_but_not_a_package(tmp_path, network):
    torch.save(network.state_dict(), tmp_path / "model.pt")
    assert zipfile.is_zipfile(tmp_path / "model.pt")
    assert not is_bioimageio_package(tmp_path / "model.pt")
    assert not is_bioimageio_package(tmp_path)  # a folder without rdf.yaml
    assert not is_bioimageio_package(tmp_path / "missing.zip")


def test_alternative_description_name(tmp_path, network):
    package = _write_zip(tmp_path / "model.zip", network, _rdf(_state_dict_weights()), rdf_name="bioimageio.yaml")
    assert read_bioimageio_package(package).record is None


def test_packages_without_loadable_weights_are_named(tmp_path, network):
    torchscript_only = {"torchscript": {"source": "weights.pt", "pytorch_version": "2.3"}}
    cases = {
        "dataset.zip": (_rdf(kind="dataset"), "describes a 'dataset', expected type 'model'"),
        "torchscript.zip": (_rdf(torchscript_only), "has no pytorch_state_dict weights (it has ['torchscript'])"),
        "missing.zip": (_rdf(_state_dict_weights("other.pt")), "names the file 'other.pt', which the package does not"),
        "outside.zip": (_rdf(_state_dict_weights("../weights.pt")), "must be a file inside the package"),
    }
    for name, (rdf_text, message) in cases.items():
        package = _write_zip(tmp_path / name, network, rdf_text)
        with pytest.raises(NotABioimageioModelError, match="^" + str(package).replace(".", r"\.")) as error:
            load_network_weights(UNet2D(1, 2, f_maps=[4, 8], num_groups=2), package)
        assert message in str(error.value)


def test_weights_that_are_not_a_state_dict(tmp_path, network):
    package = tmp_path / "pickle.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("rdf.yaml", _rdf(_state_dict_weights()))
        archive.writestr("weights.pt", b"not a torch file")
    with pytest.raises(NotABioimageioModelError) as info:
        read_bioimageio_package(package)
    assert str(info.value) == (
        f"{package}: the weights file 'weights.pt' is not a readable checkpoint: the file is damaged or truncated, "
        "or was not written by torch.save; expected a state_dict saved with torch.save."
    )


def test_wrong_architecture_names_the_option(tmp_path, network):
    package = _write_zip(tmp_path / "model.zip", network, _rdf(_state_dict_weights()))
    with pytest.raises(CheckpointMismatchError, match="f_maps"):
        load_network_weights(UNet2D(1, 2, f_maps=[8, 16], num_groups=2), package)
