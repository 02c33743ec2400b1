"""What an exported package describes: the network, its training patch, normalisation and final activation, taken
from the training record beside the weights (``model.json``) or, without one, from the bundle."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from unet3d_monai.compat import is_bioimageio_package, read_bioimageio_package
from unet3d_monai.data.normalize import NormalizeMode
from unet3d_monai.export.architecture import network_definition, network_from_definition
from unet3d_monai.inference.model_record import model_record_path, read_model_record
from unet3d_monai.networks.unet import UNetBase, pool_kernels_per_level

__all__ = ["FINAL_ACTIVATIONS", "ExportedModel", "resolve_model", "training_record"]

#: the training record written by training beside the best weights (``<ckpt_dir>/model.json``)
#: final activations a record may name
FINAL_ACTIVATIONS = ("sigmoid", "softmax", "identity")
_HALO_FRACTION = 8  # the halo is 1/8 of the training patch on each side


def training_record(ckpt_path: str | os.PathLike) -> dict | None:
    """The training record of the weights at ``ckpt_path``, or None when there is none.

    The record is the JSON file of the same name beside the weights (``model.json`` for ``model.pt``, written by
    training; :func:`~unet3d_monai.inference.model_record_path`), read with
    :func:`~unet3d_monai.inference.read_model_record` as prediction reads it, or, for a bioimage.io package made by
    :func:`~unet3d_monai.export.export_bioimageio`, the copy under its ``config.unet3d_monai``.

    Raises:
        ValueError: the record is not a JSON object.
    """
    ckpt_path = Path(ckpt_path)
    if is_bioimageio_package(ckpt_path):
        return read_bioimageio_package(ckpt_path).record
    return read_model_record(ckpt_path)


@dataclass(frozen=True)
class ExportedModel:
    """The network a package holds and how it was trained.

    Attributes:
        network: a network of ``unet3d_monai.networks`` (weights not loaded by this class).
        patch_size: the training patch, one int per spatial axis: the package's smallest input.
        normalization: the ``Normalize`` mode of the input.
        final_activation: ``"sigmoid"``, ``"softmax"`` or ``"identity"``, applied after the network's logits.
        task: the synthetic sample task of the bundle, or None.
        source: where the patch and normalisation come from, as a phrase for the documentation.
    """

    network: UNetBase
    patch_size: tuple[int, ...]
    normalization: str
    final_activation: str
    task: str | None
    source: str

    @property
    def axes(self) -> tuple[str, ...]:
        """Spatial axis names: ``z, y, x`` or ``y, x``."""
        return ("z", "y", "x")[-self.network.spatial_dims :]

    @property
    def step(self) -> tuple[int, ...]:
        """Input size increment per axis: the product of the pooling kernels over the network's levels."""
        pools = pool_kernels_per_level(
            self.network.arguments["pool_kernel_size"], self.network.spatial_dims, len(self.network.f_maps) - 1
        )
        return tuple(math.prod(level[axis] for level in pools) for axis in range(self.network.spatial_dims))

    @property
    def halo(self) -> tuple[int, ...]:
        """Voxels to crop from each side of a tile's output: 1/8 of the training patch."""
        return tuple(size // _HALO_FRACTION for size in self.patch_size)

    @property
    def probabilities(self) -> bool:
        """Whether the output holds probabilities (after a sigmoid or softmax)."""
        return self.final_activation in ("sigmoid", "softmax")

    def record(self) -> dict:
        """The training record (the ``model.json`` form) of the packaged network."""
        return {
            "network": network_definition(self.network),
            "spatial_dims": self.network.spatial_dims,
            "patch_size": list(self.patch_size),
            "normalization": self.normalization,
            "final_activation": self.final_activation,
            "task": self.task,
        }


def _activation_of(network: UNetBase) -> str:
    if isinstance(network.final_activation, nn.Sigmoid):
        return "sigmoid"
    if isinstance(network.final_activation, nn.Softmax):
        return "softmax"
    return "identity"


def _patch(patch_size: Sequence[int] | None, network: UNetBase, source: str) -> tuple[int, ...]:
    if patch_size is None:
        raise ValueError(f"{source} gives no patch_size: pass the training patch (the package's smallest input).")
    values = [patch_size] if isinstance(patch_size, int) else list(patch_size)
    if network.spatial_dims == 2 and len(values) == 3 and values[0] == 1:
        values = values[1:]  # a 2D patch stored with a singleton z
    if len(values) != network.spatial_dims or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(
            f"patch_size from {source} must be {network.spatial_dims} ints for {type(network).__name__}, "
            f"got {patch_size!r}."
        )
    if any(v < m for v, m in zip(values, network.min_input_size)):
        raise ValueError(
            f"patch_size {values} from {source} is smaller than the smallest input of {type(network).__name__} "
            f"({network.min_input_size})."
        )
    return tuple(values)


def resolve_model(
    ckpt_path: str | os.PathLike,
    network: nn.Module | None,
    patch_size: Sequence[int] | None,
    normalization: str | None,
    task: str | None,
) -> ExportedModel:
    """The network, patch, normalisation and final activation of the weights at ``ckpt_path``.

    With a training record (:func:`training_record`) the record decides, and ``network`` is not used (the
    record names the architecture that was trained); without one, the arguments do. ``task`` (the bundle's
    sample task) wins over the record's.

    Raises:
        ValueError: a missing or invalid value, named with where it comes from.
    """
    ckpt_path = Path(ckpt_path)
    record = training_record(ckpt_path)
    if record is not None:
        source = (
            f"the record of the package {ckpt_path}"
            if is_bioimageio_package(ckpt_path)
            else str(model_record_path(ckpt_path))
        )
        definition = record.get("network")
        if not isinstance(definition, Mapping):
            raise ValueError(f"{source} has no 'network' object naming the architecture.")
        built = network_from_definition(definition, source)
        patch_size = record.get("patch_size", patch_size)
        normalization = record.get("normalization", normalization)
        activation = record.get("final_activation", _activation_of(built))
        task = task or record.get("task")
        described = f"the training record ({source})"
    else:
        if network is None:
            record_name = model_record_path(ckpt_path).name
            raise ValueError(f"{ckpt_path} has no training record beside it ({record_name}): pass network=...")
        while isinstance(network, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            network = network.module
        network_definition(network)  # refuses networks from elsewhere
        built, activation, source = network, _activation_of(network), "the arguments"
        described = "the bundle's training patch and normalisation (the weights have no training record)"
    if activation not in FINAL_ACTIVATIONS:
        raise ValueError(f"final_activation from {source} must be one of {FINAL_ACTIVATIONS}, got {activation!r}.")
    modes = [mode.value for mode in NormalizeMode]
    if normalization not in modes:
        raise ValueError(f"normalization from {source} must be one of {modes}, got {normalization!r}.")
    return ExportedModel(
        network=built,
        patch_size=_patch(patch_size, built, source),
        normalization=normalization,
        final_activation=activation,
        task=task,
        source=described,
    )
