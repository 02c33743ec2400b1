"""Build a network from the ``model:`` section of a pytorch-3dunet YAML configuration."""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch.nn as nn
import yaml

from unet3d_monai.networks import ResidualUNet2D, ResidualUNet3D, ResidualUNetSE3D, UNet2D, UNet3D

__all__ = ["PYTORCH3DUNET_NETWORKS", "network_from_pytorch3dunet_config"]

# pytorch-3dunet's model names -> this package's networks
PYTORCH3DUNET_NETWORKS: dict[str, type[nn.Module]] = {
    "UNet3D": UNet3D,
    "ResidualUNet3D": ResidualUNet3D,
    "ResidualUNetSE3D": ResidualUNetSE3D,
    "UNet2D": UNet2D,
    "ResidualUNet2D": ResidualUNet2D,
}
_SEED_POOL_KERNEL_SIZE = 2


def _read_yaml(path: Path) -> object:
    if not path.is_file():
        raise FileNotFoundError(f"Configuration file {path} does not exist.")
    try:
        with path.open() as stream:
            return yaml.safe_load(stream)
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from error


def _model_section(config: str | os.PathLike | Mapping, source: str) -> Mapping:
    content = _read_yaml(Path(config)) if isinstance(config, (str, os.PathLike)) else config
    if isinstance(content, Mapping) and "model" in content:
        content = content["model"]
    if not isinstance(content, Mapping) or "name" not in content:
        raise ValueError(
            f"{source} has no pytorch-3dunet model section: expected a 'model' mapping with a 'name' key such as "
            "'UNet3D'."
        )
    return content


def network_from_pytorch3dunet_config(config: str | os.PathLike | Mapping) -> nn.Module:
    """Build this package's network from the ``model:`` section of a pytorch-3dunet configuration.

    Args:
        config: path to a pytorch-3dunet YAML file (``train_config.yml``, ``test_config.yml``...), the parsed
            configuration, or its ``model`` section alone.

    Returns:
        the network named by ``model.name`` (``UNet3D``, ``ResidualUNet3D``, ``ResidualUNetSE3D``, ``UNet2D`` or
        ``ResidualUNet2D``), built with the section's other keys as arguments.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for invalid YAML, a missing model section, an unknown model name or an unknown key (the
            message lists the accepted ones), or an invalid option value.

    Like pytorch-3dunet, ``num_levels`` is ignored when ``f_maps`` is a list (a warning says so when they
    disagree). pytorch-3dunet ignored ``pool_kernel_size`` and always pooled by 2; this network honours it, and
    a warning says so, since weights trained by pytorch-3dunet then behave differently.

    Example::

        >>> net = network_from_pytorch3dunet_config("resources/3DUnet_confocal_boundary/train_config.yml")
        >>> type(net).__name__, net.f_maps
        ('UNet3D', [32, 64, 128, 256])
    """
    source = str(config) if isinstance(config, (str, os.PathLike)) else "the configuration"
    section = dict(_model_section(config, source))
    name = section.pop("name")
    if name not in PYTORCH3DUNET_NETWORKS:
        raise ValueError(f"{source}: unknown model name {name!r}; accepted names: {', '.join(PYTORCH3DUNET_NETWORKS)}.")
    network_class = PYTORCH3DUNET_NETWORKS[name]
    accepted = [parameter for parameter in inspect.signature(network_class).parameters]
    unknown = sorted(key for key in section if key not in accepted)
    if unknown:
        raise ValueError(
            f"{source}: unknown key(s) {unknown} in the model section of {name}; accepted keys: "
            f"name, {', '.join(accepted)}."
        )
    f_maps, num_levels = section.get("f_maps"), section.get("num_levels")
    if isinstance(f_maps, (list, tuple)) and num_levels is not None:
        if num_levels != len(f_maps):
            warnings.warn(
                f"{source}: num_levels={num_levels} is ignored because f_maps lists {len(f_maps)} levels.",
                stacklevel=2,
            )
        section.pop("num_levels")
    pool = section.get("pool_kernel_size", _SEED_POOL_KERNEL_SIZE)
    if pool != _SEED_POOL_KERNEL_SIZE and pool != [_SEED_POOL_KERNEL_SIZE] * (2 if name.endswith("2D") else 3):
        warnings.warn(
            f"{source}: pool_kernel_size={pool} is honoured here, whereas pytorch-3dunet ignored it and pooled by 2; "
            "weights trained by pytorch-3dunet with this configuration expect pool_kernel_size=2.",
            stacklevel=2,
        )
    return network_class(**section)
