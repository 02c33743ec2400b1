import math

import pytest
import torch
from ignite.engine import Engine
from monai.handlers import from_engine

from unet3d_monai.metrics import (
    MSE,
    PSNR,
    AdaptedRandError,
    AdaptedRandErrorHandler,
    AveragePrecision,
    AveragePrecisionHandler,
    BlobsAveragePrecision,
    BlobsAveragePrecisionHandler,
    BoundaryAdaptedRandError,
    BoundaryAdaptedRandErrorHandler,
    BoundaryAveragePrecision,
    BoundaryAveragePrecisionHandler,
    DiceCoefficient,
    DiceCoefficientHandler,
    MeanIoU,
    MeanIoUHandler,
    MSEHandler,
    PSNRHandler,
)


def line(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, len(values))


def run(handler, batches) -> Engine:
    engine = Engine(lambda engine, batch: batch)
    handler.attach(engine, "metric")
    engine.run(batches, max_epochs=1)
    return engine


INSTANCES = line(1, 1, 0, 2, 2)
MERGED = line(1, 1, 1, 1, 1)

CASES = [
    # (handler, two batches of (y_pred, y), expected mean over the items)
    (MeanIoUHandler(), [(line(0.9, 0.8, 0.2), line(1, 0, 0)), (line(0.9, 0.1, 0.2), line(1, 0, 0))], 0.75),
    (
        DiceCoefficientHandler(),
        [(line(1.0, 0.5, 0.0), line(1, 1, 0)), (line(1, 0, 0), line(1, 0, 0))],
        (12 / 13 + 1) / 2,
    ),
    # merged: over the 4 labelled voxels, shared pairs 8 - 4, true 8 - 4, predicted 16 - 4 -> 1 - 4 / 8
    (AdaptedRandErrorHandler(), [(MERGED, INSTANCES), (INSTANCES, INSTANCES)], 0.25),
    (
        BoundaryAdaptedRandErrorHandler(thresholds=(0.5,)),
        [(line(0.1, 0.1, 0.9, 0.1, 0.1), INSTANCES), (line(0.1, 0.1, 0.1, 0.1, 0.1), INSTANCES)],
        0.25,
    ),
    # merged: IoU 2/5 with each instance, no match -> 0
    (AveragePrecisionHandler(), [(MERGED, INSTANCES), (INSTANCES, INSTANCES)], 0.5),
    (
        BoundaryAveragePrecisionHandler(thresholds=(0.5,)),
        [(line(0.1, 0.1, 0.9, 0.1, 0.1), INSTANCES), (line(0.1, 0.1, 0.1, 0.1, 0.1), INSTANCES)],
        0.5,
    ),
    (
        BlobsAveragePrecisionHandler(thresholds=(0.5,)),
        [(line(0.9, 0.9, 0.1, 0.9, 0.9), INSTANCES), (line(0.9, 0.9, 0.9, 0.9, 0.9), INSTANCES)],
        0.5,
    ),
    (PSNRHandler(data_range=1.0), [(line(0.1, 0.1), line(0, 0)), (line(0.01, 0.01), line(0, 0))], 30.0),
    (MSEHandler(), [(line(1, 1), line(0, 0)), (line(3, 3), line(0, 0))], 5.0),
]


@pytest.mark.parametrize("handler, batches, expected", CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_handler_in_engine(handler, batches, expected):
    engine = run(handler, batches)
    assert engine.state.metrics["metric"] == pytest.approx(expected)
    assert engine.state.metric_details["metric"].shape[0] == 2


@pytest.mark.parametrize(
    "handler_class, metric_class, higher",
    [
        (MeanIoUHandler, MeanIoU, True),
        (DiceCoefficientHandler, DiceCoefficient, True),
        (AdaptedRandErrorHandler, AdaptedRandError, False),
        (BoundaryAdaptedRandErrorHandler, BoundaryAdaptedRandError, False),
        (AveragePrecisionHandler, AveragePrecision, True),
        (BoundaryAveragePrecisionHandler, BoundaryAveragePrecision, True),
        (BlobsAveragePrecisionHandler, BlobsAveragePrecision, True),
        (PSNRHandler, PSNR, True),
        (MSEHandler, MSE, False),
    ],
)
def test_direction_attributes(handler_class, metric_class, higher):
    assert metric_class.higher_is_better is higher
    assert handler_class.higher_is_better is higher
    handler = handler_class()
    assert handler.higher_is_better is higher
    assert isinstance(handler.metric_fn, metric_class)
    assert handler.mode == ("max" if higher else "min")
    assert handler.is_better(2.0, 1.0) is higher
    assert handler.is_better(1.0, 2.0) is not higher


def test_handler_with_dictionary_output_resets_between_runs():
    handler = AdaptedRandErrorHandler(output_transform=from_engine(["pred", "label"]))
    engine = Engine(lambda engine, batch: {"pred": batch[0], "label": batch[1]})
    handler.attach(engine, "arand")
    engine.run([(MERGED, INSTANCES)], max_epochs=1)
    assert engine.state.metrics["arand"] == pytest.approx(0.5)
    engine.run([(INSTANCES, INSTANCES)], max_epochs=1)
    assert engine.state.metrics["arand"] == pytest.approx(0.0)


def test_a_score_from_non_finite_predictions_is_nan_and_never_better():
    """Thresholding turns NaN into interior and infinity into boundary, so the metric alone scores the broken items
    below like real predictions (0.33 and 0.0, a perfect error, for the infinite one): any non-finite prediction
    makes the whole validation NaN instead."""
    handler = BoundaryAdaptedRandErrorHandler(thresholds=(0.5,))
    good = (line(0.1, 0.1, 0.9, 0.1, 0.1), INSTANCES)
    broken = (line(0.1, float("nan"), 0.9, 0.1, 0.1), INSTANCES)
    engine = run(handler, [good, broken])
    assert math.isnan(engine.state.metrics["metric"])
    infinite = (line(0.1, 0.1, float("inf"), 0.1, 0.1), INSTANCES)
    engine.run([good, infinite], max_epochs=1)
    assert math.isnan(engine.state.metrics["metric"])
    engine.run([good, good], max_epochs=1)  # the count starts again with every run
    assert engine.state.metrics["metric"] == pytest.approx(0.0)
    for higher, directed in ((False, handler), (True, MeanIoUHandler())):
        assert directed.is_better(float("nan"), 0.5) is False
        assert directed.is_better(0.5, float("nan")) is True
        assert directed.is_better(float("nan"), float("nan")) is False
        assert directed.is_better(0.6, 0.5) is higher


def test_a_handler_takes_its_metrics_arguments_and_refuses_others():
    import inspect

    names = list(inspect.signature(BlobsAveragePrecisionHandler).parameters)
    assert names == [
        "thresholds",
        "input_channel",
        "use_last_target",
        "iou_thresholds",
        "min_instance_size",
        "segmenter",
        "output_transform",
        "save_details",
    ]
    handler = MeanIoUHandler(0.7, [0], save_details=False)  # positional, as the metric's own arguments
    assert handler.metric_fn.threshold == 0.7 and handler.metric_fn.skip_channels == (0,)
    assert handler.save_details is False
    with pytest.raises(TypeError, match="MeanIoUHandler: got an unexpected keyword argument 'treshold'"):
        MeanIoUHandler(treshold=0.7)
    with pytest.raises(TypeError, match="MSEHandler: .*reduction"):
        MSEHandler(reduction="sum")  # the handler decides the reduction


def test_validation_segments_an_anisotropic_volume_in_its_voxel_size(tmp_path):
    """As the bundles validate: the HDF5 volume (voxels 2 x 0.5 x 0.5 um) loaded with LoadHDF5d, predicted by a
    sliding window (here the map itself), scored through the prediction's Segmenter: the segmentation is the one
    in the file's voxel size, as prediction writes it, not the one of cubic voxels."""
    import h5py
    import numpy as np
    from monai.data import list_data_collate

    from tests.inference.test_segmentd import _flat_nuclei_file
    from unet3d_monai.data import LoadHDF5d
    from unet3d_monai.inference import FittedSlidingWindowInferer, Segmenter, foreground_watershed
    from unet3d_monai.metrics import BlobsAveragePrecisionHandler, average_precision
    from unet3d_monai.metrics.instance import segment_item

    path = tmp_path / "val.h5"
    foreground = _flat_nuclei_file(path)
    truth = foreground_watershed(foreground, min_distance=5, sampling=(2.0, 0.5, 0.5))
    truth[..., 20:] = np.where(truth[..., 20:] == 1, 0, truth[..., 20:])  # nucleus 1 cut short on one side
    with h5py.File(path, "a") as f:
        f["label"] = truth
    batch = list_data_collate([LoadHDF5d(["image", "label"], ["raw", "label"])({"image": path, "label": path})])
    inferer = FittedSlidingWindowInferer((8, 8, 8), overlap=0.25, mode="gaussian")
    segmenter = Segmenter("foreground_watershed", min_distance=5)
    handler = BlobsAveragePrecisionHandler(segmenter=segmenter, output_transform=from_engine(["pred", "label"]))
    engine = Engine(lambda engine, batch: {"pred": inferer(batch["image"], torch.clone), "label": batch["label"]})
    handler.attach(engine, "ap")
    engine.run([batch], max_epochs=1)
    pred = inferer(batch["image"], torch.clone)[0]
    probabilities = pred.numpy()
    in_voxel_size = segmenter(probabilities, sampling=(2.0, 0.5, 0.5))
    np.testing.assert_array_equal(segment_item(segmenter, probabilities, pred), in_voxel_size)
    expected = average_precision(truth, in_voxel_size)
    cubes = average_precision(truth, segmenter(probabilities))
    assert engine.state.metrics["ap"] == pytest.approx(expected)
    # nucleus 2 matches at every IoU threshold, the cut nucleus 1 at 7 of 10: (7 * 1 + 3 * 1 / 3) / 10
    assert expected == pytest.approx(0.8) and cubes < 0.2
    # a callable other than a Segmenter is given the map alone
    assert segment_item(lambda p: p[0] > 0.5, probabilities, pred).sum() == (foreground > 0.5).sum()
