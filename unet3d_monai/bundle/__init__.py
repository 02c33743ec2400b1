"""Small helpers that the bundles in ``bundles/`` call from their JSON: command-line option checks, up-front
checks of every option and output folder, typed option parsing, resuming, and preparing the dataset folder."""

from unet3d_monai.errors import explain, install_error_hook, user_error

from .checks import (
    check_inference_options,
    check_pool_kernel_size,
    check_training_options,
    check_training_outputs,
)
from .dataset import check_finite_volumes, prepare_dataset_dir
from .location import bundle_root
from .options import as_bool, check_cli_overrides, resume_checkpoint

__all__ = [
    "as_bool",
    "bundle_root",
    "check_cli_overrides",
    "check_finite_volumes",
    "check_inference_options",
    "check_pool_kernel_size",
    "check_training_options",
    "check_training_outputs",
    "explain",
    "install_error_hook",
    "prepare_dataset_dir",
    "resume_checkpoint",
    "user_error",
]
