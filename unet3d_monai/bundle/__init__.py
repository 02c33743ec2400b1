"""Small helpers that the bundles in ``bundles/`` call from their JSON: command-line option checks,
typed option parsing, resuming, and preparing the dataset folder."""

from .dataset import prepare_dataset_dir
from .errors import install_error_hook, user_error
from .options import as_bool, check_cli_overrides, resume_checkpoint

__all__ = [
    "as_bool",
    "check_cli_overrides",
    "install_error_hook",
    "prepare_dataset_dir",
    "resume_checkpoint",
    "user_error",
]
