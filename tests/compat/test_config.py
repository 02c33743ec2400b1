"""Building networks from the model section of pytorch-3dunet's YAML configurations."""

import json

import pytest
import torch
import yaml

from tests.conftest import SEED_CONFIGS, seed_config_files
from unet3d_monai.compat import load_pytorch3dunet_checkpoint, network_from_pytorch3dunet_config
from unet3d_monai.compat.config import PYTORCH3DUNET_NETWORKS

CONFIG_FILES = seed_config_files()
DEFAULT_LEVELS = {"UNet3D": 4, "UNet2D": 4, "ResidualUNet3D": 5, "ResidualUNetSE3D": 5, "ResidualUNet2D": 5}


@pytest.mark.skipif(not SEED_CONFIGS.is_dir(), reason=f"pytorch-3dunet's example configs are not at {SEED_CONFIGS}")
def test_seed_configs_are_present():
    assert len(CONFIG_FILES) >= 15


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_seed_config_builds_its_network(path):
    model = yaml.safe_load(path.read_text())["model"]
    with torch.device("meta"):
        network = network_from_pytorch3dunet_config(path)
    assert type(network).__name__ == model["name"]
    f_maps = model["f_maps"]
    expected = f_maps if isinstance(f_maps, list) else [f_maps * 2**k for k in range(DEFAULT_LEVELS[model["name"]])]
    assert network.f_maps == expected
    assert network.in_channels == model["in_channels"]
    assert network.final_conv.out_channels == model["out_channels"]
    norm = "groupnorm" if "g" in model["layer_order"] else "batchnorm"
    assert any(f".{norm}." in key for key in network.state_dict())
    if not model.get("is_segmentation", True):
        assert isinstance(network.final_activation, torch.nn.Identity)
    elif model.get("final_sigmoid", True):
        assert isinstance(network.final_activation, torch.nn.Sigmoid)
    else:
        assert isinstance(network.final_activation, torch.nn.Softmax)


def test_parsed_config_and_model_section_are_accepted():
    section = {"name": "ResidualUNet2D", "in_channels": 2, "out_channels": 3, "f_maps": [4, 8], "num_groups": 2}
    for config in (section, {"model": section, "trainer": {"max_num_epochs": 1}}):
        network = network_from_pytorch3dunet_config(config)
        assert type(network).__name__ == "ResidualUNet2D" and network.f_maps == [4, 8]


@pytest.mark.parametrize("name", ["unet3d_gcr", "resunetse3d", "unet2d_bcr", "unet3d_cbr_dataparallel"])
def test_config_built_network_loads_the_seed_checkpoint(seed_fixtures, name):
    entry = json.loads((seed_fixtures / "manifest.json").read_text())[name]
    network = network_from_pytorch3dunet_config({"model": {"name": entry["model"], **entry["kwargs"]}})
    load_pytorch3dunet_checkpoint(seed_fixtures / entry["checkpoint"], network).eval()
    io = torch.load(seed_fixtures / entry["io"], map_location="cpu", weights_only=True)
    with torch.no_grad():
        torch.testing.assert_close(network(io["input"]), io["logits"], atol=1e-5, rtol=0)


def test_unknown_model_name_lists_the_accepted_ones():
    with pytest.raises(ValueError, match=r"unknown model name 'UNet4D'; accepted names: UNet3D, ResidualUNet3D"):
        network_from_pytorch3dunet_config({"model": {"name": "UNet4D", "in_channels": 1, "out_channels": 1}})
    assert set(PYTORCH3DUNET_NETWORKS) == {"UNet3D", "ResidualUNet3D", "ResidualUNetSE3D", "UNet2D", "ResidualUNet2D"}


def test_unknown_key_lists_the_accepted_ones(tmp_path):
    path = tmp_path / "train_config.yml"
    path.write_text("model:\n  name: UNet3D\n  in_channels: 1\n  out_channels: 1\n  fmaps: 32\n")
    with pytest.raises(ValueError, match=r"train_config.yml: unknown key\(s\) \['fmaps'\].*accepted keys: name, in_ch"):
        network_from_pytorch3dunet_config(path)


def test_missing_file_invalid_yaml_and_missing_section(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.yml does not exist"):
        network_from_pytorch3dunet_config(tmp_path / "absent.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(ValueError, match="broken.yml is not valid YAML"):
        network_from_pytorch3dunet_config(str(broken))
    no_model = tmp_path / "loaders.yml"
    no_model.write_text("loaders:\n  batch_size: 1\n")
    with pytest.raises(ValueError, match="loaders.yml has no pytorch-3dunet model section"):
        network_from_pytorch3dunet_config(no_model)


def test_num_levels_is_ignored_with_an_f_maps_list_like_the_seed():
    section = {"name": "UNet3D", "in_channels": 1, "out_channels": 1, "f_maps": [4, 8, 16], "num_groups": 2}
    with pytest.warns(UserWarning, match="num_levels=4 is ignored because f_maps lists 3 levels"):
        network = network_from_pytorch3dunet_config({**section, "num_levels": 4})
    assert network.f_maps == [4, 8, 16]


def test_anisotropic_pooling_is_honoured_with_a_warning():
    section = {"name": "UNet3D", "in_channels": 1, "out_channels": 1, "f_maps": 4, "num_levels": 2, "num_groups": 2}
    with pytest.warns(UserWarning, match=r"pool_kernel_size=\[1, 2, 2\] is honoured here"):
        network = network_from_pytorch3dunet_config({**section, "pool_kernel_size": [1, 2, 2]})
    assert network.encoders[1].pooling.kernel_size == (1, 2, 2)
