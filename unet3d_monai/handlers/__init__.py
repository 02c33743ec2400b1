"""Ignite/MONAI engine handlers used by the training bundles.

MONAI provides the engines, the validation schedule, the statistics and TensorBoard loggers; these handlers add
what the bundles need beyond them: crash-safe checkpoints of the best network and of the full training state
(written after every validation, every few iterations or minutes, at every epoch end and on Ctrl-C/SIGTERM), the
random states that make resuming exact, a stop with a clear message on a non-finite loss, the training loss as a
number for the loggers and its mean per epoch, middle-slice TensorBoard images, per-class validation metrics,
iteration speed and the learning rate in TensorBoard, a progress bar that shows the loss, and the choice of the
segmentation settings on validation when training ends.
"""

from .checkpoint import BestAndLastCheckpointer, TrainingStateLoader, atomic_torch_save
from .class_metrics import TensorBoardClassMetrics
from .epoch_loss import EpochLossMean
from .final_validation import FinalValidation
from .iteration_speed import IterationSpeedLogger, batch_size_of
from .learning_rate import LearningRateLogger
from .nonfinite_loss import StopOnNonFiniteLoss
from .progress import LossProgressBar
from .random_states import RandomStates
from .segmentation_choice import ChooseSegmentation
from .tensorboard_slices import TensorBoardSliceHandler
from .training_loss import training_loss
from .training_state import TrainingStateSaver

__all__ = [
    "BestAndLastCheckpointer",
    "ChooseSegmentation",
    "EpochLossMean",
    "FinalValidation",
    "IterationSpeedLogger",
    "LearningRateLogger",
    "LossProgressBar",
    "RandomStates",
    "StopOnNonFiniteLoss",
    "TensorBoardClassMetrics",
    "TensorBoardSliceHandler",
    "TrainingStateLoader",
    "TrainingStateSaver",
    "atomic_torch_save",
    "batch_size_of",
    "training_loss",
]
