"""Each bundle's metadata.json describes what its inference.json writes: probabilities in [0, 1] after the network's
final activation for the segmentation bundles, intensities in the input's standardised units for denoising."""

import json
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser

ROOT = Path(__file__).resolve().parents[2]
TASKS = ["boundary", "denoising", "dsb2018_2d", "lightsheet_boundary", "multiclass", "nuclei"]


def _network(task):
    parser = ConfigParser()
    parser.read_config(str(ROOT / "bundles" / task / "inference.json"))
    return parser.get_parsed_content("network_def")


@pytest.mark.parametrize("task", TASKS)
def test_outputs_described_as_the_bundle_writes_them(task):
    meta = json.loads((ROOT / "bundles" / task / "metadata.json").read_text())
    output = meta["network_data_format"]["outputs"]["pred"]
    activation = _network(task).final_activation
    assert output["num_channels"] == len(output["channel_def"])
    descriptions = " ".join([meta["pred_classes"], *output["channel_def"].values()])
    assert "logits" not in descriptions
    if task == "denoising":
        assert isinstance(activation, torch.nn.Identity)
        assert output["format"] == "magnitude" and "standardised units" in meta["pred_classes"]
        assert output["value_range"] == []  # unbounded: intensities in the input's standardised units
    else:
        assert isinstance(activation, torch.nn.Sigmoid | torch.nn.Softmax)
        assert output["format"] == "segmentation" and output["value_range"] == [0, 1]
        assert "probabilit" in meta["pred_classes"]
