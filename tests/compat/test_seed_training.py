"""The loss, metric, optimizer and scheduler sections of a pytorch-3dunet config as bundle components, and the
prediction wrapper for pytorch-3dunet's prediction options."""

import copy

import pytest
import torch
import torch.nn.functional as F
from monai.bundle import ConfigParser

from unet3d_monai.compat import ConfigKeyError, PredictionNetwork
from unet3d_monai.compat.seed_training import (
    convert_eval_metric,
    convert_loss,
    convert_lr_scheduler,
    convert_optimizer,
)


def _instance(component, **refs):
    parser = ConfigParser({"component": copy.deepcopy(component.config), **refs})
    return parser.get_parsed_content("component")


def test_any_torch_optimizer_with_its_options():
    component = convert_optimizer({"name": "SGD", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True,
                                   "weight_decay": 1e-4}, "train.yml")  # fmt: skip
    parameter = torch.nn.Parameter(torch.zeros(2))
    optimizer = _instance(component, network=torch.nn.Linear(1, 1), learning_rate=0.1)
    assert isinstance(optimizer, torch.optim.SGD)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["nesterov"], group["weight_decay"]) == (0.1, 0.9, True, 1e-4)
    assert component.notes == [] and parameter.shape == (2,)
    rprop = convert_optimizer({"name": "Rprop", "weight_decay": 1e-5}, "train.yml")
    assert [str(n) for n in rprop.notes] == ["optimizer.weight_decay: Rprop takes no weight_decay; ignored, as "
                                             "pytorch-3dunet did."]  # fmt: skip
    assert convert_optimizer({}, "train.yml").config["_target_"] == "torch.optim.Adam"
    with pytest.raises(ConfigKeyError, match=r"unknown key 'optimizer.momentumm'; did you mean 'momentum'"):
        convert_optimizer({"name": "SGD", "momentumm": 0.9}, "train.yml")
    with pytest.raises(ConfigKeyError, match=r"unknown optimizer.name 'Adamw'; did you mean 'AdamW'"):
        convert_optimizer({"name": "Adamw"}, "train.yml")


def test_any_scheduler_and_its_required_options():
    step = convert_lr_scheduler({"name": "StepLR", "step_size": 3, "gamma": 0.5}, "train.yml")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = _instance(step, optimizer=optimizer)
    assert isinstance(scheduler, torch.optim.lr_scheduler.StepLR) and scheduler.step_size == 3
    assert step.expression == "$lambda engine: ()"
    plateau = convert_lr_scheduler({"name": "ReduceLROnPlateau", "factor": 0.2}, "train.yml")
    assert plateau.config["mode"] == "$'max' if @higher_is_better else 'min'"
    assert _instance(plateau, optimizer=optimizer, higher_is_better=True).mode == "max"
    with pytest.raises(ConfigKeyError, match="lr_scheduler StepLR needs 'step_size'"):
        convert_lr_scheduler({"name": "StepLR"}, "train.yml")


def test_cross_entropy_defaults_and_skip_last_target():
    loss = convert_loss({"name": "CrossEntropyLoss", "ignore_index": None, "skip_last_target": True,
                         "weight": [1.0, 2.0, 0.5]}, "train.yml")  # fmt: skip
    assert loss.config["ignore_index"] == -100 and loss.config["weight"] == [1.0, 2.0, 0.5]
    parser = ConfigParser({"loss_def": loss.config, "loss": loss.expression, "imports": ["$import torch"]})
    function = parser.get_parsed_content("loss")
    logits = torch.randn(2, 3, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    classes = torch.randint(0, 3, (2, 1, 4, 5, 6), generator=torch.Generator().manual_seed(1))
    target = torch.cat([classes.float(), torch.full_like(classes, 7.0)], dim=1)  # instance ids last
    expected = F.cross_entropy(logits, classes[:, 0], weight=torch.tensor([1.0, 2.0, 0.5]))
    torch.testing.assert_close(function(logits, target), expected)
    assert convert_loss({"name": "WeightedCrossEntropyLoss"}, "train.yml").config["ignore_index"] == -100


def test_loss_keys_without_equivalent_are_reported_and_misspelt_ones_refused():
    loss = convert_loss({"name": "BCEDiceLoss", "alpha": 0.5, "weight": [2.0], "squeeze_channel": True}, "train.yml")
    assert loss.config == {"_target_": "unet3d_monai.losses.BCEDiceLoss", "alpha": 0.5}
    assert [n.key for n in loss.notes] == ["loss.weight", "loss.squeeze_channel"]
    with pytest.raises(ConfigKeyError, match=r"unknown key 'loss.alpah'; did you mean 'alpha'"):
        convert_loss({"name": "BCEDiceLoss", "alpah": 0.5}, "train.yml")
    with pytest.raises(ConfigKeyError, match=r"loss WeightedSmoothL1Loss needs 'threshold'"):
        convert_loss({"name": "WeightedSmoothL1Loss", "initial_weight": 2.0}, "train.yml")
    with pytest.raises(ConfigKeyError, match="only the loss PixelWiseCrossEntropyLoss takes"):
        convert_loss({"name": "DiceLoss"}, "train.yml", weight_map=True)


def test_metrics_follow_pytorch3dunet_defaults():
    miou = convert_eval_metric({"name": "MeanIoU"}, "train.yml", out_channels=3)
    assert miou.config["skip_channels"] == [0]
    assert "skip_channels" not in convert_eval_metric({"name": "MeanIoU", "skip_background": False}, "t", 3).config
    arand = convert_eval_metric({"name": "BoundaryAdaptedRandError", "threshold": 0.4, "use_first_input": True},
                                "train.yml", out_channels=1)  # fmt: skip
    assert arand.config["grow_segments"] is True and arand.config["use_first_input"] is True
    assert [n.key for n in arand.notes] == ["eval_metric.threshold", "eval_metric.name"]
    handler = _instance(arand)
    assert handler.higher_is_better is False and handler.metric_fn.thresholds == (0.3, 0.4, 0.5, 0.6)
    blobs = convert_eval_metric({"name": "BlobsAveragePrecision", "metric": "acc"}, "train.yml", out_channels=1)
    assert [str(n) for n in blobs.notes] == ["eval_metric.metric: 'acc' has no equivalent: the average precision "
                                             "is scored."]  # fmt: skip
    with pytest.raises(ConfigKeyError, match=r"unknown eval_metric.name 'MeanIOU'; did you mean 'MeanIoU'"):
        convert_eval_metric({"name": "MeanIOU"}, "train.yml", out_channels=3)


def test_prediction_network_scales_the_input_and_keeps_one_channel():
    torch.manual_seed(0)
    network = torch.nn.Conv3d(1, 3, 1)
    network.final_activation = torch.nn.Softmax(dim=1)
    x = torch.rand(1, 1, 2, 3, 4)
    wrapped = PredictionNetwork(network, input_scale=2.0, input_offset=-1.0, output_channel=2)
    torch.testing.assert_close(wrapped(x), torch.softmax(network(2 * x - 1), dim=1)[:, 2:3])
    assert isinstance(wrapped.final_activation, torch.nn.Identity)
    plain = PredictionNetwork(network, input_scale=2.0, input_offset=-1.0)
    torch.testing.assert_close(plain(x), network(2 * x - 1))
    assert plain.final_activation is network.final_activation
    with pytest.raises(ValueError, match="prediction_channel 3 does not exist: the network has 3 output channels"):
        PredictionNetwork(network, output_channel=3)(x)
