"""Shared machinery of the instance-segmentation metrics: input checks, label selection, best-of-candidates scoring."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from monai.data import MetaTensor
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction
from scipy import ndimage

from unet3d_monai.segmentation.segmenter import Segmenter

from .contingency import CompactLabels, compact_labels

__all__ = [
    "InstanceMetric",
    "check_thresholds",
    "component_labels",
    "grow_segments",
    "segment_item",
    "to_label_array",
]


def to_label_array(labels: torch.Tensor, name: str) -> np.ndarray:
    """Return ``labels`` as an integer numpy array; floating-point input must hold whole numbers.

    Args:
        labels: a tensor of instance labels (integer, boolean or whole-valued floating point).
        name: how to call the tensor in the error message.
    """
    tensor = labels.detach().cpu()
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()
    array = tensor.numpy()
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return array
    if not np.array_equal(array, np.trunc(array)):
        raise ValueError(
            f"{name} must hold integer instance labels, got non-integer values (dtype {array.dtype}); "
            "probability maps need the boundary or blob variant of the metric."
        )
    return array.astype(np.int64)


def component_labels(mask: np.ndarray) -> CompactLabels:
    """Connected components of a boolean mask with face connectivity (6 neighbours in 3D, 4 in 2D).

    Label 0 is the outside of the mask, 1..n the components; returned in the renumbered form the contingency table
    takes, without an extra pass over the image.
    """
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    components, n_components = ndimage.label(mask, structure=structure)
    return CompactLabels(components.reshape(-1), np.arange(n_components + 1, dtype=np.int64))


def segment_item(
    segmenter: Callable[[np.ndarray], np.ndarray], probabilities: np.ndarray, item: torch.Tensor
) -> np.ndarray:
    """The labels ``segmenter`` makes of one map ``probabilities`` ``(1, *spatial)`` of the item ``item``
    ``(C, *spatial)``, as prediction makes them: a :class:`~unet3d_monai.inference.Segmenter` whose mode measures
    distances is given the item's voxel size (``item.pixdim``, the affine's column lengths in the array's axis
    order) when ``item`` is a MetaTensor, so that validation segments an anisotropic volume (an HDF5 file with
    ``element_size_um``) in its voxel size as prediction does; any other callable gets the map alone.
    """
    if isinstance(segmenter, Segmenter) and segmenter.uses_sampling and isinstance(item, MetaTensor):
        pixdim = [float(v) for v in item.pixdim]
        sampling = pixdim if len(pixdim) == probabilities.ndim - 1 else None
        return np.asarray(segmenter(probabilities, sampling))
    return np.asarray(segmenter(probabilities))


def grow_segments(labels: np.ndarray) -> np.ndarray:
    """Give every label-0 voxel the label of the nearest labelled voxel (Euclidean distance; ties broken by the
    distance transform), so that a boundary band no longer forms one segment of its own.

    An image without any labelled voxel is returned unchanged.

    Example::

        >>> grow_segments(np.array([1, 0, 0, 0, 2, 0]))
        array([1, 1, 1, 2, 2, 2])
    """
    background = labels == 0
    if background.all() or not background.any():
        return labels
    nearest = ndimage.distance_transform_edt(background, return_distances=False, return_indices=True)
    return labels[tuple(nearest)]


class InstanceMetric(CumulativeIterationMetric):
    """Base class of metrics comparing candidate instance segmentations with a ground-truth instance labelling.

    ``y_pred`` has shape ``(B, C, *spatial)`` and ``y`` ``(B, C_label, *spatial)``. For every batch item the
    subclass turns ``y_pred[b]`` into one or more candidate label images (:meth:`_candidates`), each is scored
    against the ground truth (:meth:`_score`) and the best score is kept (lowest when ``higher_is_better`` is
    False, highest otherwise). :meth:`_compute_tensor` returns a ``(B, 1)`` float64 tensor; NaN marks an item whose
    score is undefined, and the reductions of :func:`monai.metrics.utils.do_metric_reduction` skip it.

    Args:
        use_last_target: take the last channel of ``y`` as the ground-truth instances (the label transforms of
            boundary and blob tasks append the instance labels as the last channel). When False, ``y`` must have
            a single channel.
        reduction: reduction mode of :meth:`aggregate` (MONAI's ``MetricReduction``), default ``"mean"``.
        get_not_nans: when True, :meth:`aggregate` returns ``(value, not_nans)``.
    """

    higher_is_better: bool = True

    def __init__(
        self,
        use_last_target: bool = False,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__()
        self.use_last_target = use_last_target
        self.reduction = reduction
        self.get_not_nans = get_not_nans

    @abstractmethod
    def _candidates(self, y_pred: torch.Tensor) -> Iterator[np.ndarray | CompactLabels]:
        """Candidate label images (spatial shape, or renumbered) for one item ``y_pred`` of shape ``(C, *spatial)``."""

    @abstractmethod
    def _score(self, truth: CompactLabels, candidate: np.ndarray | CompactLabels) -> float:
        """Score of one candidate label image against the (renumbered) ground truth."""

    def _check_inputs(self, y_pred: torch.Tensor, y: torch.Tensor | None) -> None:
        name = type(self).__name__
        if not isinstance(y_pred, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise ValueError(
                f"{name} needs y_pred and y as tensors, got {type(y_pred).__name__} and {type(y).__name__}."
            )
        if y_pred.ndim < 3:
            raise ValueError(f"{name} expects y_pred of shape (B, C, *spatial), got shape {tuple(y_pred.shape)}.")
        if y.ndim != y_pred.ndim:
            raise ValueError(
                f"{name} expects y of shape (B, C_label, *spatial) with the same rank as y_pred "
                f"{tuple(y_pred.shape)}, got shape {tuple(y.shape)}."
            )
        if y.shape[0] != y_pred.shape[0] or y.shape[2:] != y_pred.shape[2:]:
            raise ValueError(
                f"{name} expects y_pred and y with equal batch size and spatial shape, "
                f"got {tuple(y_pred.shape)} and {tuple(y.shape)}."
            )
        if y_pred.shape[2:].numel() == 0:
            raise ValueError(f"{name} got an empty spatial shape {tuple(y_pred.shape[2:])}.")
        if not self.use_last_target and y.shape[1] != 1:
            raise ValueError(
                f"{name} got y with {y.shape[1]} channels; pass a single-channel instance labelling or set "
                "use_last_target=True to use the last channel."
            )

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        self._check_inputs(y_pred, y)
        labels = to_label_array(y[:, -1], "y (ground-truth instances)")
        pick = min if not self.higher_is_better else max
        scores = []
        for item_pred, item_labels in zip(y_pred, labels):
            truth = compact_labels(item_labels)
            values = [self._score(truth, candidate) for candidate in self._candidates(item_pred)]
            defined = [v for v in values if not np.isnan(v)]
            scores.append(pick(defined) if defined else float("nan"))
        return torch.tensor(scores, dtype=torch.float64, device=y_pred.device).unsqueeze(1)

    def aggregate(
        self, reduction: MetricReduction | str | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Reduce the per-item scores collected so far (NaN items are skipped)."""
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError(f"{type(self).__name__} has no scores to aggregate; call it on some data first.")
        f, not_nans = do_metric_reduction(data, reduction or self.reduction)
        return (f, not_nans) if self.get_not_nans else f


def check_thresholds(thresholds: Sequence[float], name: str, low: float = 0.0, high: float = 1.0) -> tuple[float, ...]:
    """Validate a non-empty sequence of thresholds in ``[low, high]`` and return it as a tuple of floats."""
    values = tuple(float(t) for t in thresholds)
    if not values or any(not low <= t <= high for t in values):
        raise ValueError(f"{name} must be a non-empty sequence of values in [{low}, {high}], got {list(thresholds)}.")
    return values
