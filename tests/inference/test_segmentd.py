import numpy as np
import torch

from unet3d_monai.inference import Segmentd


def test_segmentd_labels_the_prediction_into_its_own_key():
    pred = torch.tensor([[[0.2, 0.7]], [[0.8, 0.3]]])
    d = Segmentd("pred", mode="argmax")({"pred": pred})
    assert d["segmentation"].tolist() == [[1, 0]] and d["segmentation"].dtype == np.uint32
    assert d["pred"] is pred
