"""The network of an exported model as a definition: the class in ``unet3d_monai.networks`` and its arguments."""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn as nn

from unet3d_monai.networks import ResidualUNet2D, ResidualUNet3D, ResidualUNetSE3D, UNet2D, UNet3D
from unet3d_monai.networks.unet import UNetBase

__all__ = ["NETWORKS_MODULE", "NETWORK_CLASSES", "network_definition", "network_from_definition"]

#: the module a bioimage.io package imports the architecture from
NETWORKS_MODULE = "unet3d_monai.networks"
#: the classes a package can name, by name
NETWORK_CLASSES: dict[str, type[UNetBase]] = {
    cls.__name__: cls for cls in (UNet3D, ResidualUNet3D, ResidualUNetSE3D, UNet2D, ResidualUNet2D)
}


def _unwrap(network: nn.Module) -> nn.Module:
    while isinstance(network, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        network = network.module
    return network


def network_definition(network: nn.Module) -> dict[str, object]:
    """``{"_target_": "unet3d_monai.networks.<Class>", **arguments}`` of a network of ``unet3d_monai.networks``.

    The same form as a bundle's ``network_def`` and the ``"network"`` entry of the training record.

    Raises:
        TypeError: ``network`` is not one of the classes of ``unet3d_monai.networks``.

    Example::

        >>> network_definition(UNet3D(1, 1, f_maps=8))["_target_"]
        'unet3d_monai.networks.UNet3D'
    """
    network = _unwrap(network)
    name = type(network).__name__
    if NETWORK_CLASSES.get(name) is not type(network):
        raise TypeError(
            f"only the networks of {NETWORKS_MODULE} ({', '.join(NETWORK_CLASSES)}) can be exported, got {name}."
        )
    return {"_target_": f"{NETWORKS_MODULE}.{name}", **network.arguments}


def network_from_definition(definition: Mapping[str, object], source: str = "the network definition") -> UNetBase:
    """Build the network that :func:`network_definition` describes.

    Args:
        definition: ``{"_target_": "unet3d_monai.networks.<Class>", <constructor arguments>}``.
        source: where the definition comes from, for error messages (e.g. ``"model.json"``).

    Raises:
        ValueError: an unknown class, or arguments the class does not accept (named in one sentence).
    """
    target = definition.get("_target_")
    name = target.rsplit(".", 1)[-1] if isinstance(target, str) else None
    if name not in NETWORK_CLASSES or target not in (name, f"{NETWORKS_MODULE}.{name}"):
        raise ValueError(
            f"{source}: '_target_' must name one of {', '.join(f'{NETWORKS_MODULE}.{n}' for n in NETWORK_CLASSES)}, "
            f"got {target!r}."
        )
    arguments = {key: value for key, value in definition.items() if key != "_target_"}
    try:
        return NETWORK_CLASSES[name](**arguments)
    except TypeError as error:
        raise ValueError(f"{source}: {name} does not accept the arguments {sorted(arguments)} ({error}).") from error
