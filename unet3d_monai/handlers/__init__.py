"""Ignite/MONAI engine handlers used by the training bundles.

MONAI provides the engines, the validation schedule, the statistics and TensorBoard loggers; these handlers add
what the bundles need beyond them: crash-safe checkpoints of the best network and of the full training state,
a stop with a clear message on a non-finite loss, middle-slice TensorBoard images, the learning rate in
TensorBoard, and a progress bar that shows the loss.
"""

from .checkpoint import BestAndLastCheckpointer, TrainingStateLoader, atomic_torch_save
from .final_validation import FinalValidation
from .learning_rate import LearningRateLogger
from .nonfinite_loss import StopOnNonFiniteLoss
from .progress import LossProgressBar
from .tensorboard_slices import TensorBoardSliceHandler

__all__ = [
    "BestAndLastCheckpointer",
    "FinalValidation",
    "LearningRateLogger",
    "LossProgressBar",
    "StopOnNonFiniteLoss",
    "TensorBoardSliceHandler",
    "TrainingStateLoader",
    "atomic_torch_save",
]
