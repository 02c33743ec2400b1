"""From probabilities to objects: thresholds, argmax, connected components and seeded watersheds
(:class:`Segmenter`), and the same block by block with a halo, stitched across blocks, for maps larger than memory
(:class:`BlockwiseSegmentation`). Prediction writes its labels with it and the instance metrics segment with it, so it
sits below both."""

from unet3d_monai.segmentation.blockwise import BlockwiseSegmentation, check_block_shape, required_halo
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
    "BlockwiseSegmentation",
    "SegmentationMode",
    "Segmenter",
    "boundary_components",
    "boundary_distance_watershed",
    "boundary_watershed",
    "connected_components",
    "foreground_watershed",
    "merge_weak_borders",
    "check_block_shape",
    "relative_sampling",
    "required_halo",
]
