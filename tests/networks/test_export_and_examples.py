"""TorchScript export through MONAI's bundle command, and the docstring examples."""

import doctest
import importlib
import json

import pytest
import torch
from monai.bundle import ckpt_export

import unet3d_monai.networks as networks
from unet3d_monai.networks.conv_block import DoubleConv
from unet3d_monai.networks.upsampling import InterpolateUpsampling

EXAMPLE_MODULES = [
    "unet3d_monai.networks.unet",
    "unet3d_monai.networks.conv_block",
    "unet3d_monai.networks.residual_block",
    "unet3d_monai.networks.se",
    "unet3d_monai.networks.upsampling",
    "unet3d_monai.networks.encoder",
    "unet3d_monai.networks.decoder",
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name, spatial", [("UNet3D", (9, 10, 11)), ("ResidualUNet2D", (13, 12))])
def test_monai_ckpt_export_scripts_the_network(tmp_path, name, spatial):
    options = {"in_channels": 1, "out_channels": 2, "f_maps": 4, "num_levels": 3, "num_groups": 2}
    torch.manual_seed(0)
    network = {"UNet3D": networks.UNet3D, "ResidualUNet2D": networks.ResidualUNet2D}[name](**options).eval()
    torch.save(network.state_dict(), tmp_path / "model.pt")
    (tmp_path / "inference.json").write_text(
        json.dumps({"network_def": {"_target_": f"unet3d_monai.networks.{name}", **options}})
    )
    (tmp_path / "metadata.json").write_text(json.dumps({"version": "0.1.0"}))
    ckpt_export(
        net_id="network_def",
        filepath=str(tmp_path / "model.ts"),
        ckpt_file=str(tmp_path / "model.pt"),
        meta_file=str(tmp_path / "metadata.json"),
        config_file=str(tmp_path / "inference.json"),
    )
    exported = torch.jit.load(str(tmp_path / "model.ts"))
    x = torch.rand(1, 1, *spatial)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), network(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("module_name", EXAMPLE_MODULES)
def test_docstring_examples_run(module_name):
    names = {"torch": torch, "DoubleConv": DoubleConv, "InterpolateUpsampling": InterpolateUpsampling}
    for other in EXAMPLE_MODULES:
        names.update({key: value for key, value in vars(importlib.import_module(other)).items() if key[0] != "_"})
    result = doctest.testmod(importlib.import_module(module_name), extraglobs=names, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
