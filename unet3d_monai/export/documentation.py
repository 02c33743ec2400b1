"""The documentation (``README.md``) of a bioimage.io package: the bundle's README, then what the package holds and
how to validate it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["package_documentation"]

_NORMALIZATION_TEXT = {
    "standardize": "zero mean and unit variance over the whole image (all channels together)",
    "percentile": "scaled between its 1st and 99.6th percentiles over the whole image (all channels together)",
    "minmax": "scaled between its minimum and maximum over the whole image (all channels together)",
    "none": "left unchanged (cast to float32)",
}
_ACTIVATION_TEXT = {
    "sigmoid": "a sigmoid turns the network's logits into probabilities",
    "softmax": "a softmax over the channels turns the network's logits into class probabilities",
    "identity": "the network's output is the prediction (regression)",
}


def _sizes(values: Sequence[int]) -> str:
    return "x".join(str(v) for v in values)


def package_documentation(
    readme: str | None,
    *,
    name: str,
    description: str,
    network_class: str,
    arguments: Mapping[str, object],
    axes: Sequence[str],
    patch_size: Sequence[int],
    step: Sequence[int],
    halo: Sequence[int],
    normalization: str,
    final_activation: str,
    record_source: str,
    test_source: str,
    eval_metrics: Mapping[str, str],
    bundle: str | None,
) -> str:
    """Markdown for the package: ``readme`` (the bundle's README) followed by the package's own sections.

    Args:
        readme: the bundle's README text, or None (a title and ``description`` stand in for it).
        name, description: the model's name and one-paragraph description.
        network_class: the class in ``unet3d_monai.networks``; ``arguments``: its constructor arguments.
        axes: spatial axis names (``z, y, x`` or ``y, x``); ``patch_size``, ``step``, ``halo``: per spatial axis.
        normalization: the ``Normalize`` mode; ``final_activation``: ``sigmoid``, ``softmax`` or ``identity``.
        record_source: where the training window and normalisation come from (a sentence fragment).
        test_source: what the test input is (a sentence fragment).
        eval_metrics: the bundle's validation metrics and their direction, e.g. ``{"mean_iou": "higher is better"}``.
        bundle: the bundle's folder (e.g. ``bundles/boundary``), or None.
    """
    head = readme.rstrip() if readme else f"# {name}\n\n{description}"
    spatial = ", ".join(axes)
    lines = [
        head,
        "",
        "## This bioimage.io package",
        "",
        f"- Network: `unet3d_monai.networks.{network_class}` (`pip install unet3d-monai`) with the arguments in "
        "`rdf.yaml` (`weights.pytorch_state_dict.architecture.kwargs`): "
        + ", ".join(f"{key}={value}" for key, value in arguments.items())
        + ". The same network is included as TorchScript, which needs PyTorch only.",
        f"- Input `raw`: axes batch, channel, {spatial}; float32; {_NORMALIZATION_TEXT[normalization]}. "
        f"The smallest input is the training patch {_sizes(patch_size)}; larger inputs grow by "
        f"{_sizes(step)} (the pooling of the network's levels).",
        f"- Output `prediction`: axes batch, channel, {spatial}, the size of the input; "
        f"{_ACTIVATION_TEXT[final_activation]}. When predicting tile by tile, crop {_sizes(halo)} voxels (the "
        "halo) from each side of every tile.",
        f"- Training window and normalisation: {record_source}.",
        "",
        "## Validation",
        "",
    ]
    if eval_metrics:
        metrics = ", ".join(f"{metric.replace('_', ' ')} ({direction})" for metric, direction in eval_metrics.items())
        lines.append(
            f"The bundle's training validates on whole held-out volumes with: {metrics}. To validate this model "
            "on your own annotated data, predict held-out volumes and compute the same metric against their labels"
            + (
                f", e.g. `python -m monai.bundle run --config_file {bundle}/inference.json --ckpt_path <this package> "
                '--input "<folder>/*.h5"`, which loads this package\'s weights.'
                if bundle
                else "."
            )
        )
        lines.append("")
    lines.append(
        f"The test tensors (`test_input.npy`, `test_output.npy`) are {test_source} and this network's output on it; "
        "`bioimageio test <package>` checks that both weight formats reproduce the output."
    )
    return "\n".join(lines) + "\n"
