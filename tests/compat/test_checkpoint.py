"""Loading pytorch-3dunet checkpoints and this package's weight files, and the messages when they do not fit."""

from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
from monai.bundle import ConfigParser

from tests.seed_models import ENTRIES, NETWORK_CLASSES, manifest_entries
from unet3d_monai.compat import (
    CheckpointMismatchError,
    NotACheckpointError,
    load_network_weights,
    load_pytorch3dunet_checkpoint,
)
from unet3d_monai.networks import ResidualUNet3D, UNet2D, UNet3D

GCR = {"in_channels": 1, "out_channels": 1, "f_maps": 8, "num_levels": 3, "num_groups": 4}


@pytest.fixture(scope="module")
def manifest(seed_fixtures):
    return manifest_entries(seed_fixtures)


def seed_io(seed_fixtures, entry):
    return torch.load(seed_fixtures / entry["io"], map_location="cpu", weights_only=True)


def assert_reproduces_seed(network, seed_fixtures, entry):
    io = seed_io(seed_fixtures, entry)
    network.eval()
    with torch.no_grad():
        logits = network(io["input"])
    torch.testing.assert_close(logits, io["logits"], atol=1e-5, rtol=0)
    torch.testing.assert_close(network.final_activation(logits), io["output"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ENTRIES)
def test_load_pytorch3dunet_checkpoint_reproduces_the_seed(seed_fixtures, manifest, name):
    entry = manifest[name]
    network = NETWORK_CLASSES[entry["model"]](**entry["kwargs"])
    loaded = load_pytorch3dunet_checkpoint(seed_fixtures / entry["checkpoint"], network)
    assert loaded is network
    assert_reproduces_seed(network, seed_fixtures, entry)


def test_dataparallel_prefix_is_stripped(seed_fixtures, manifest):
    entry = manifest["unet3d_cbr_dataparallel"]
    assert entry["dataparallel_prefix"]
    raw = torch.load(seed_fixtures / entry["checkpoint"], map_location="cpu", weights_only=True)
    assert all(key.startswith("module.") for key in raw["model_state_dict"])
    network = UNet3D(**entry["kwargs"])
    load_network_weights(network, str(seed_fixtures / entry["checkpoint"]))
    assert_reproduces_seed(network, seed_fixtures, entry)


def test_network_wrapped_in_dataparallel_is_filled_through_its_module(seed_fixtures, manifest):
    entry = manifest["unet3d_gcr"]
    wrapped = nn.DataParallel(UNet3D(**entry["kwargs"]))
    assert load_pytorch3dunet_checkpoint(seed_fixtures / entry["checkpoint"], wrapped) is wrapped
    assert_reproduces_seed(wrapped.module, seed_fixtures, entry)


def seed_state_dict(seed_fixtures, entry):
    raw = torch.load(seed_fixtures / entry["checkpoint"], map_location="cpu", weights_only=True)
    return {key.removeprefix("module."): value for key, value in raw["model_state_dict"].items()}


@pytest.mark.parametrize("form", ["plain", "training_state", "seed", "compiled"])
def test_load_network_weights_accepts_every_form(seed_fixtures, manifest, tmp_path, form):
    entry = manifest["resunet3d_softmax"]
    weights = seed_state_dict(seed_fixtures, entry)
    content = {
        "plain": weights,
        "training_state": {"network": weights, "optimizer": {"state": {}, "param_groups": []}, "trainer": {}},
        "seed": {"model_state_dict": weights, "num_epochs": 3},
        "compiled": OrderedDict((f"_orig_mod.{key}", value) for key, value in weights.items()),
    }[form]
    path = tmp_path / "weights.pt"
    torch.save(content, path)
    network = ResidualUNet3D(**entry["kwargs"])
    assert load_network_weights(network, path) is network
    assert_reproduces_seed(network, seed_fixtures, entry)


def test_load_network_weights_from_a_bundle_expression(seed_fixtures, manifest, tmp_path):
    entry = manifest["unet3d_gcr"]
    path = tmp_path / "model.pt"
    torch.save(seed_state_dict(seed_fixtures, entry), path)
    config = {
        "imports": ["$from unet3d_monai.compat import load_network_weights"],
        "ckpt_path": str(path),
        "network_def": {"_target_": "unet3d_monai.networks.UNet3D", **entry["kwargs"]},
        "network": "$load_network_weights(@network_def, @ckpt_path)",
    }
    parser = ConfigParser(config)
    parser.get_parsed_content("imports")  # as `python -m monai.bundle run` does first
    network = parser.get_parsed_content("network")
    assert isinstance(network, UNet3D)
    assert_reproduces_seed(network, seed_fixtures, entry)


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "absent.pytorch"
    with pytest.raises(FileNotFoundError, match="absent.pytorch does not exist"):
        load_network_weights(UNet3D(**GCR), path)
    with pytest.raises(FileNotFoundError, match="absent.pytorch does not exist"):
        load_pytorch3dunet_checkpoint(path, UNet3D(**GCR))


def test_a_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("raw: /data/volume.h5\n")
    with pytest.raises(NotACheckpointError) as info:
        load_network_weights(UNet3D(**GCR), path)
    assert str(info.value) == (
        f"{path} is not a readable checkpoint: the file is damaged or truncated, or was not written by torch.save; "
        "expected network weights saved with torch.save (a state_dict, this package's model.pt or last.pt, or a "
        "pytorch-3dunet checkpoint) or a bioimage.io model package."
    )


class Pickled:
    """An arbitrary object: weights_only loading must refuse to unpickle it."""


def test_loading_is_weights_only(seed_fixtures, manifest, tmp_path):
    entry = manifest["unet3d_gcr"]
    path = tmp_path / "unsafe.pytorch"
    torch.save({"model_state_dict": seed_state_dict(seed_fixtures, entry), "extra": Pickled()}, path)
    with pytest.raises(NotACheckpointError) as info:
        load_pytorch3dunet_checkpoint(path, UNet3D(**entry["kwargs"]))
    assert str(info.value).startswith(
        f"{path} is not a readable checkpoint: it holds a Python object of type tests.compat.test_checkpoint.Pickled, "
        "and only tensors, numbers, strings and containers of them are read from checkpoint files; expected "
    )
    assert "likely succeed" not in str(info.value)


def test_a_checkpoint_without_weights(tmp_path):
    path = tmp_path / "metrics.pt"
    torch.save({"epoch": 3, "best_eval_score": 0.5}, path)
    with pytest.raises(NotACheckpointError, match=r"holds no network weights.*found \['best_eval_score', 'epoch'\]"):
        load_network_weights(UNet3D(**GCR), path)


def test_pytorch3dunet_loader_points_to_the_general_loader(tmp_path):
    path = tmp_path / "model.pt"
    network = UNet3D(**GCR)
    torch.save(network.state_dict(), path)
    with pytest.raises(NotACheckpointError, match="use load_network_weights"):
        load_pytorch3dunet_checkpoint(path, network)


@pytest.mark.parametrize(
    "network_class, options, message",
    [
        (UNet3D, {"layer_order": "cbr"}, r"layer_order: the checkpoint uses GroupNorm \('g'\), the network BatchNorm"),
        (UNet3D, {"layer_order": "cr"}, r"layer_order: the checkpoint uses GroupNorm \('g'\), the network no norm"),
        (UNet3D, {"layer_order": "cgr"}, r"layer_order: the norm layers have different sizes"),
        (UNet3D, {"f_maps": 16}, r"f_maps: the checkpoint has f_maps=\[8, 16, 32\], the network \[16, 32, 64\]"),
        (UNet3D, {"num_levels": 4}, r"num_levels .*: the checkpoint has 3 encoder levels, the network 4"),
        (UNet3D, {"out_channels": 2}, r"out_channels"),
        (UNet3D, {"in_channels": 2}, r"in_channels"),
        (UNet3D, {"conv_kernel_size": 5}, r"conv_kernel_size"),
        (UNet3D, {"upsample": "deconv"}, r"upsample: only the network has transposed-convolution upsampling"),
        (ResidualUNet3D, {}, r"network class: the checkpoint has plain double-convolution blocks"),
        (UNet2D, {}, r"network class: the checkpoint holds a 3D network but the network is 2D"),
    ],
)
def test_mismatch_names_the_likely_option(seed_fixtures, manifest, network_class, options, message):
    entry = manifest["unet3d_gcr"]
    network = network_class(**{**GCR, **options})
    before = {key: value.clone() for key, value in network.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match=message) as caught:
        load_pytorch3dunet_checkpoint(seed_fixtures / entry["checkpoint"], network)
    text = str(caught.value)
    assert text.startswith(f"The weights in {seed_fixtures / entry['checkpoint']} do not fit this")
    assert "missing keys" in text or "unexpected keys" in text or "shape mismatches" in text
    # nothing was copied into the network
    for key, value in network.state_dict().items():
        assert torch.equal(value, before[key])


def test_mismatch_lists_the_keys(seed_fixtures, manifest):
    entry = manifest["resunetse3d"]
    with pytest.raises(CheckpointMismatchError) as caught:
        load_pytorch3dunet_checkpoint(seed_fixtures / entry["checkpoint"], ResidualUNet3D(**entry["kwargs"]))
    text = str(caught.value)
    assert "network class: the checkpoint has residual blocks with squeeze-and-excitation" in text
    assert "unexpected keys: encoders.0.basic_module.se_module.cSE.fc1.weight" in text
    assert "(30 in all)" in text  # 5 blocks x 6 squeeze-and-excitation tensors
