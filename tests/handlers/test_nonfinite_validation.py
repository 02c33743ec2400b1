"""A validation whose predictions are not finite is never a new best: no model.pt is written from it, and the
evaluator's own best score moves on to the next finite validation."""

import math

import torch
from monai.data import DataLoader
from monai.engines import SupervisedEvaluator
from monai.handlers import from_engine

from unet3d_monai.handlers import BestAndLastCheckpointer
from unet3d_monai.metrics import BoundaryAdaptedRandErrorHandler


class Scale(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def test_non_finite_predictions_never_save_a_best(tmp_path):
    image = torch.tensor([0.1, 0.1, 0.9, 0.1, 0.1]).view(1, 1, 5)
    label = torch.tensor([1.0, 1.0, 0.0, 2.0, 2.0]).view(1, 1, 5)
    network = Scale()
    metric = BoundaryAdaptedRandErrorHandler(
        thresholds=(0.5,), use_last_target=False, output_transform=from_engine(["pred", "label"])
    )
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=DataLoader([{"image": image, "label": label}], batch_size=1),
        network=network,
        key_val_metric={"val_metric": metric},
        metric_cmp_fn=metric.is_better,
    )
    saver = BestAndLastCheckpointer(tmp_path, network, {"network": network}, higher_is_better=False)
    saver.attach(evaluator)

    with torch.no_grad():
        network.weight.fill_(math.nan)
    evaluator.run()
    assert math.isnan(evaluator.state.metrics["val_metric"])
    assert not (tmp_path / "model.pt").exists() and saver.best_metric is None
    assert (tmp_path / "last.pt").exists()  # the training state is still saved, for resuming

    with torch.no_grad():
        network.weight.fill_(1.0)
    evaluator.run()
    assert evaluator.state.metrics["val_metric"] == 0.0
    assert evaluator.state.best_metric == 0.0 and saver.best_metric == 0.0
    assert torch.load(tmp_path / "model.pt", weights_only=True)["weight"].item() == 1.0
