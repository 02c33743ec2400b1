"""Small helpers that the bundles in ``bundles/`` call from their JSON: command-line option checks,
typed option parsing, resuming, and preparing the dataset folder."""

from .options import as_bool, check_cli_overrides, resume_checkpoint

__all__ = ["as_bool", "check_cli_overrides", "resume_checkpoint"]
