"""Load network weights from pytorch-3dunet checkpoints and from this package's own weight files.

Four forms are recognised:

- a plain ``state_dict`` (``<ckpt_dir>/model.pt``, the best weights);
- a training state, a dict whose ``"network"`` entry is the ``state_dict`` (``<ckpt_dir>/last.pt``);
- a pytorch-3dunet checkpoint (``best_checkpoint.pytorch`` / ``last_checkpoint.pytorch``), a dict whose
  ``"model_state_dict"`` entry is the ``state_dict``, possibly with DataParallel's ``module.`` prefix;
- a bioimage.io model package (zip or folder with ``rdf.yaml``) with ``pytorch_state_dict`` weights, as
  :func:`unet3d_monai.export.export_bioimageio` writes.

Files are read with ``torch.load(..., weights_only=True)`` onto the CPU, then copied into the network's device.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn as nn

from unet3d_monai.compat.bioimageio import is_bioimageio_package, read_bioimageio_package
from unet3d_monai.compat.checkpoint_file import NotACheckpointError, load_checkpoint_file
from unet3d_monai.compat.mismatch import CheckpointMismatchError, describe_mismatch

__all__ = [
    "NotACheckpointError",
    "CheckpointMismatchError",
    "read_checkpoint",
    "strip_prefixes",
    "load_pytorch3dunet_checkpoint",
    "load_network_weights",
]

PYTORCH3DUNET_KEY = "model_state_dict"
TRAINING_STATE_KEY = "network"
# prefixes added by wrappers: DataParallel / DistributedDataParallel, then torch.compile
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


#: what :func:`read_checkpoint` expects, as its errors say
WEIGHT_FILES = (
    "network weights saved with torch.save (a state_dict, this package's model.pt or last.pt, or a pytorch-3dunet "
    "checkpoint) or a bioimage.io model package"
)


def read_checkpoint(path: str | os.PathLike) -> object:
    """Read ``path`` with ``torch.load(weights_only=True)`` onto the CPU.

    Raises:
        FileNotFoundError: when ``path`` is not an existing file.
        NotACheckpointError: when the file is not a PyTorch file readable with ``weights_only=True`` (damaged, or
            holding Python objects other than tensors and plain values), e.g. ``/data/model.pt is not a readable
            checkpoint: the file is damaged or truncated, or was not written by torch.save; expected network weights
            saved with torch.save (...) or a bioimage.io model package.``
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint file {path} does not exist.")
    return load_checkpoint_file(path, WEIGHT_FILES)


def _is_state_dict(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(key, str) and isinstance(tensor, torch.Tensor) for key, tensor in value.items())
    )


def strip_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the ``module.`` (DataParallel) and ``_orig_mod.`` (torch.compile) prefixes shared by every key."""
    stripped = dict(state_dict)
    changed = True
    while changed and stripped:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(key.startswith(prefix) for key in stripped):
                stripped = {key[len(prefix) :]: value for key, value in stripped.items()}
                changed = True
    return stripped


def _unwrap(network: nn.Module) -> nn.Module:
    wrappers = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    while isinstance(network, wrappers):
        network = network.module
    return network


def _load_strict(network: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> nn.Module:
    target = _unwrap(network)
    weights = strip_prefixes(state_dict)
    message = describe_mismatch(target.state_dict(), weights, source, type(target).__name__)
    if message is not None:
        raise CheckpointMismatchError(message)
    target.load_state_dict(weights, strict=True)
    return network


def load_pytorch3dunet_checkpoint(path: str | os.PathLike, network: nn.Module) -> nn.Module:
    """Load a pytorch-3dunet checkpoint (a dict with ``"model_state_dict"``) into ``network`` with ``strict=True``.

    The DataParallel ``module.`` prefix is removed. The network must be built with the options the checkpoint
    was trained with; note that a checkpoint does not record ``num_groups``, which therefore cannot be checked.

    Args:
        path: the checkpoint file, e.g. ``best_checkpoint.pytorch``.
        network: the network to fill, e.g. ``UNet3D(1, 1, f_maps=32)``.

    Returns:
        ``network``, with the checkpoint's weights.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        NotACheckpointError: when the file is not readable with ``weights_only=True`` or has no
            ``"model_state_dict"``.
        CheckpointMismatchError: when keys or shapes differ; the message names the missing, unexpected and
            reshaped keys and the option that is likely wrong (``layer_order``, ``f_maps``, ``num_levels``, the
            network class...).

    Example::

        >>> net = load_pytorch3dunet_checkpoint("best_checkpoint.pytorch", UNet3D(1, 1, f_maps=32))
    """
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, Mapping) or not _is_state_dict(checkpoint.get(PYTORCH3DUNET_KEY)):
        found = sorted(map(str, checkpoint))[:10] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise NotACheckpointError(
            f"{path} is not a pytorch-3dunet checkpoint: expected a dict whose '{PYTORCH3DUNET_KEY}' holds the "
            f"weights, found {found}; use load_network_weights for other weight files."
        )
    return _load_strict(network, checkpoint[PYTORCH3DUNET_KEY], str(path))


def load_network_weights(network: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load weights into ``network`` with ``strict=True`` from a plain ``state_dict`` (``model.pt``), a training
    state with a ``"network"`` entry (``last.pt``), a pytorch-3dunet checkpoint (``"model_state_dict"``) or a
    bioimage.io model package (zip or folder) with ``pytorch_state_dict`` weights.

    Wrapper prefixes (``module.``, ``_orig_mod.``) are removed, and a network wrapped in ``DataParallel`` is
    filled through its ``module``. Returns ``network``, so a bundle can use it in an expression (MONAI binds only
    the names of ``from ... import`` statements listed in ``imports``)::

        "imports": ["$from unet3d_monai.compat import load_network_weights"],
        "network": "$load_network_weights(@network_def, @ckpt_path).to(@device)"

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        NotACheckpointError: when the file is not readable with ``weights_only=True`` or holds none of the
            three forms.
        NotABioimageioModelError: when a bioimage.io package has no readable ``pytorch_state_dict`` weights.
        CheckpointMismatchError: when keys or shapes differ (the message names the likely wrong option).
    """
    if is_bioimageio_package(path):
        package = read_bioimageio_package(path)
        return _load_strict(network, package.state_dict, str(package.path))
    checkpoint = read_checkpoint(path)
    if isinstance(checkpoint, Mapping) and _is_state_dict(checkpoint.get(PYTORCH3DUNET_KEY)):
        weights = checkpoint[PYTORCH3DUNET_KEY]
    elif isinstance(checkpoint, Mapping) and _is_state_dict(checkpoint.get(TRAINING_STATE_KEY)):
        weights = checkpoint[TRAINING_STATE_KEY]
    elif _is_state_dict(checkpoint):
        weights = checkpoint
    else:
        found = sorted(map(str, checkpoint))[:10] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise NotACheckpointError(
            f"{path} holds no network weights: expected a state_dict, a dict with '{TRAINING_STATE_KEY}' (training "
            f"state) or '{PYTORCH3DUNET_KEY}' (pytorch-3dunet checkpoint), found {found}."
        )
    return _load_strict(network, weights, str(path))
