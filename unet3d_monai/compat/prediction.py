"""pytorch-3dunet's prediction conventions around this package's prediction: the input scaling of its ``Normalize``,
the ``prediction_channel`` kept, the ``output_dataset`` name, and outputs written beside the inputs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import torch
from torch import nn

from unet3d_monai.inference.predictor import VolumePredictor
from unet3d_monai.inference.volumes import find_volume_files

__all__ = ["PredictionNetwork", "predict_files"]


class PredictionNetwork(nn.Module):
    """A trained network wrapped with pytorch-3dunet's prediction options, for :class:`VolumePredictor`.

    ``forward(x)`` returns ``network(x * input_scale + input_offset)``: logits ``(B, C, *spatial)``, with the
    network's ``final_activation`` exposed for the predictor. With ``output_channel`` set, it returns the
    probabilities of that channel alone, ``(B, 1, *spatial)`` (the activation is applied to all channels first, so a
    softmax stays a softmax over every class), and ``final_activation`` is the identity.

    Args:
        network: the network, weights loaded.
        input_scale, input_offset: the affine applied to the normalised input; pytorch-3dunet's ``Normalize``
            (min-max to ``[-1, 1]``) is the ``"minmax"`` normalisation followed by ``2 x - 1``.
        output_channel: keep only this output channel (pytorch-3dunet's ``prediction_channel``).

    Example::

        >>> net = PredictionNetwork(torch.nn.Conv3d(1, 3, 1), output_channel=2)
        >>> net(torch.zeros(1, 1, 4, 4, 4)).shape
        torch.Size([1, 1, 4, 4, 4])
    """

    def __init__(
        self,
        network: nn.Module,
        input_scale: float = 1.0,
        input_offset: float = 0.0,
        output_channel: int | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.input_scale = float(input_scale)
        self.input_offset = float(input_offset)
        self.output_channel = None if output_channel is None else int(output_channel)
        activation = network.final_activation if hasattr(network, "final_activation") else None
        activation = activation if isinstance(activation, nn.Module) else nn.Identity()
        if self.output_channel is None:
            self.final_activation = activation
        else:
            self.channel_activation = activation
            self.final_activation = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_scale != 1.0 or self.input_offset != 0.0:
            x = x * self.input_scale + self.input_offset
        y = self.network(x)
        if self.output_channel is None:
            return y
        if not 0 <= self.output_channel < y.shape[1]:
            raise ValueError(
                f"prediction_channel {self.output_channel} does not exist: the network has {y.shape[1]} output "
                "channels."
            )
        return self.channel_activation(y)[:, self.output_channel : self.output_channel + 1]


def predict_files(
    predictor: VolumePredictor,
    inputs: str | os.PathLike | Sequence[str | os.PathLike] | None,
    output_dir: str | os.PathLike | None = None,
    output_dataset: str = "predictions",
) -> list[Path]:
    """Predict every volume of ``inputs`` with ``predictor``, writing ``<stem>_predictions.h5``.

    Args:
        predictor: the bundle's predictor.
        inputs: a file, a folder, a glob or a list of these (pytorch-3dunet's ``loaders.test.file_paths``).
        output_dir: the output folder; None writes each output beside its input, as pytorch-3dunet did without
            ``loaders.output_dir``.
        output_dataset: the HDF5 dataset holding the probabilities (pytorch-3dunet's ``predictor.output_dataset``).

    Returns:
        the output files.

    Raises:
        ValueError: no input was given.
        FileNotFoundError: ``inputs`` matches no HDF5 or NIfTI file.
    """
    if inputs is None or (isinstance(inputs, (list, tuple)) and not inputs):
        raise ValueError(
            "No input to predict: give --input (an HDF5 or NIfTI file, a folder or a glob), or "
            "loaders.test.file_paths in the pytorch-3dunet configuration."
        )
    if output_dir is None:
        outputs = []
        for path in find_volume_files(inputs):
            predictor.output_dir = Path(path).parent
            outputs.extend(predictor.run(path))
    else:
        predictor.output_dir = Path(output_dir)
        outputs = predictor.run(inputs)
    if output_dataset != "predictions":
        for output in outputs:
            if output.suffix == ".h5":
                with h5py.File(output, "r+") as f:
                    f.move("predictions", output_dataset)
    return outputs
