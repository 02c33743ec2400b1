"""From probabilities to objects: thresholds, argmax, connected components and seeded watersheds
(:class:`Segmenter`). Prediction writes its labels with it and the instance metrics segment with it, so it sits
below both."""

from unet3d_monai.segmentation.segmenter import (
    SegmentationMode,
    Segmenter,
    boundary_components,
    boundary_distance_watershed,
    boundary_watershed,
    connected_components,
    foreground_watershed,
    merge_weak_borders,
    relative_sampling,
)

__all__ = [
    "SegmentationMode",
    "Segmenter",
    "boundary_components",
    "boundary_distance_watershed",
    "boundary_watershed",
    "connected_components",
    "foreground_watershed",
    "merge_weak_borders",
    "relative_sampling",
]
