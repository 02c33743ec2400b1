"""Label and intensity transforms of pytorch-3dunet that MONAI lacks, as MONAI transforms.

Geometric and intensity augmentations (flips, rotations, elastic deformation, Gaussian noise and
smoothing, contrast, cropping) are MONAI's own ``Rand*d`` transforms; this package adds the label
targets (boundaries, blob masks, affinities, relabelling) and additive Poisson noise.
"""

from .blobs_to_mask import BlobsToMask, BlobsToMaskd
from .label_to_affinities import LabelToAffinities, LabelToAffinitiesd
from .label_to_boundary import LabelToBoundary, LabelToBoundaryd
from .poisson_noise import RandAdditivePoissonNoise, RandAdditivePoissonNoised
from .relabel import Relabel, Relabeld

__all__ = [
    "BlobsToMask",
    "BlobsToMaskd",
    "LabelToAffinities",
    "LabelToAffinitiesd",
    "LabelToBoundary",
    "LabelToBoundaryd",
    "RandAdditivePoissonNoise",
    "RandAdditivePoissonNoised",
    "Relabel",
    "Relabeld",
]
