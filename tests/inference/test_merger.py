import numpy as np
import pytest
import torch
from monai.data.utils import compute_importance_map
from monai.inferers import PatchInferer

from tests.inference._networks import TinyNet
from unet3d_monai.inference import FittedWindowSplitter, GaussianWeightedMerger, network_min_window, predict
from unet3d_monai.inference.partials import PartialStore
from unet3d_monai.inference.sliding_window import prepare_window_predictor


@pytest.mark.parametrize(
    "shape, roi, overlap",
    [((23, 31, 29), (8, 10, 12), 0.5), ((6, 25, 17), (10, 8, 20), 0.25), ((1, 20, 20), (8, 16, 16), 0.25)],
)
def test_patch_inferer_with_the_splitter_and_merger_equals_in_memory_prediction(shape, roi, overlap):
    net = TinyNet(out_channels=2, activation="softmax", seed=3)
    net.min_input_size = (2, 4, 4)  # the thin volume is reflected up to 2 slices
    volume = np.random.RandomState(7).randn(1, *shape).astype(np.float32)
    expected = predict(net, volume, roi, overlap=overlap, device="cpu")
    predictor, _ = prepare_window_predictor(net, "cpu")
    inferer = PatchInferer(FittedWindowSplitter(roi, overlap, network_min_window(net)), GaussianWeightedMerger, 3)
    with torch.inference_mode():
        output = inferer(torch.from_numpy(volume)[None], predictor)
    assert output.shape == (1, 2, *shape)
    np.testing.assert_allclose(output[0].numpy(), expected, atol=1e-5)


def test_merger_adds_weighted_windows_inside_its_region_and_writes_the_partial(tmp_path):
    store = PartialStore(tmp_path)
    region = (slice(2, 6), slice(0, 5), slice(1, 4))
    merger = GaussianWeightedMerger((1, 1, 8, 6, 6), region=region, store=store, key=(0, 1, 2))
    window = torch.full((1, 1, 4, 4, 4), 2.0)
    merger.aggregate(window, (1, 0, 0))
    merger.aggregate(window, (4, 2, 2))
    merger.aggregate(window, (7, 0, 0))  # outside the region along z: ignored
    assert merger.finalize() == region
    partial = np.load(store.path((0, 1, 2)))
    importance = compute_importance_map((4, 4, 4), mode="gaussian", sigma_scale=0.125).numpy()
    weights = np.zeros((8, 6, 6), np.float32)
    weights[1:5, 0:4, 0:4] += importance
    weights[4:8, 2:6, 2:6] += importance
    np.testing.assert_allclose(partial[1], weights[region], rtol=1e-6)
    np.testing.assert_allclose(partial[0], 2 * weights[region], rtol=1e-6)


def test_merger_refuses_a_region_outside_the_volume_and_a_store_without_key(tmp_path):
    with pytest.raises(ValueError, match="region"):
        GaussianWeightedMerger((1, 1, 4, 4, 4), region=(slice(0, 5), slice(0, 4), slice(0, 4)))
    with pytest.raises(ValueError, match="store and key"):
        GaussianWeightedMerger((1, 1, 4, 4, 4), store=PartialStore(tmp_path))
