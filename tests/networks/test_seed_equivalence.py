"""Our networks reproduce the logits of pytorch-3dunet's own models from their checkpoints."""

import pytest
import torch

from tests.seed_models import ENTRIES, NETWORK_CLASSES, manifest_entries


@pytest.fixture(scope="module")
def manifest(seed_fixtures):
    return manifest_entries(seed_fixtures)


def test_every_manifest_entry_is_covered(manifest):
    assert sorted(manifest) == sorted(ENTRIES)


def build_and_load(seed_fixtures, entry):
    network = NETWORK_CLASSES[entry["model"]](**entry["kwargs"])
    checkpoint = torch.load(seed_fixtures / entry["checkpoint"], map_location="cpu", weights_only=True)
    state_dict = {key.removeprefix("module."): value for key, value in checkpoint["model_state_dict"].items()}
    result = network.load_state_dict(state_dict, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return network.eval()


@pytest.mark.parametrize("name", ENTRIES)
def test_logits_and_outputs_match_the_seed(seed_fixtures, manifest, name):
    entry = manifest[name]
    network = build_and_load(seed_fixtures, entry)
    io = torch.load(seed_fixtures / entry["io"], map_location="cpu", weights_only=True)
    with torch.no_grad():
        logits = network(io["input"])
    assert logits.shape == io["logits"].shape
    torch.testing.assert_close(logits, io["logits"], atol=1e-5, rtol=0)
    torch.testing.assert_close(network.final_activation(logits), io["output"], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "name, activation",
    [
        ("unet3d_gcr", torch.nn.Sigmoid),
        ("resunet3d_softmax", torch.nn.Softmax),
        ("unet3d_regression", torch.nn.Identity),
    ],
)
def test_final_activation_kind(seed_fixtures, manifest, name, activation):
    network = build_and_load(seed_fixtures, manifest[name])
    assert type(network.final_activation) is activation
    if activation is torch.nn.Softmax:
        assert network.final_activation.dim == 1


def test_forward_returns_logits_not_probabilities(seed_fixtures, manifest):
    entry = manifest["unet3d_gcr"]
    network = build_and_load(seed_fixtures, entry)
    io = torch.load(seed_fixtures / entry["io"], map_location="cpu", weights_only=True)
    with torch.no_grad():
        logits = network(io["input"])
    # the seed's probabilities lie in (0, 1); its logits do not, and forward must return the latter in eval mode
    assert ((logits < 0) | (logits > 1)).any()
    torch.testing.assert_close(torch.sigmoid(logits), io["output"], atol=1e-5, rtol=0)


def test_seed_weights_under_bfloat16_autocast_stay_close(seed_fixtures, manifest):
    entry = manifest["resunetse3d"]
    network = build_and_load(seed_fixtures, entry)
    io = torch.load(seed_fixtures / entry["io"], map_location="cpu", weights_only=True)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = network(io["input"])
    assert logits.dtype == torch.bfloat16
    reference = io["logits"]
    error = (logits.float() - reference).abs().max()
    assert error < 0.05 * reference.abs().max() + 0.02


@pytest.mark.parametrize("name", ["unet3d_gcr", "resunetse3d", "unet3d_cbr_dataparallel"])
def test_seed_weights_in_channels_last_3d_match(seed_fixtures, manifest, name):
    entry = manifest[name]
    network = build_and_load(seed_fixtures, entry).to(memory_format=torch.channels_last_3d)
    io = torch.load(seed_fixtures / entry["io"], map_location="cpu", weights_only=True)
    with torch.no_grad():
        logits = network(io["input"].contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(logits, io["logits"], atol=1e-5, rtol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", ["unet3d_gcr", "resunet3d_softmax", "resunetse3d", "unet2d_bcr"])
def test_scripted_seed_network_matches(seed_fixtures, manifest, name):
    entry = manifest[name]
    network = build_and_load(seed_fixtures, entry)
    io = torch.load(seed_fixtures / entry["io"], map_location="cpu", weights_only=True)
    scripted = torch.jit.script(network)
    with torch.no_grad():
        logits = scripted(io["input"])
    torch.testing.assert_close(logits, io["logits"], atol=1e-5, rtol=0)
