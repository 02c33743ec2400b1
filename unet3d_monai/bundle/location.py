"""Where a bundle lives: the default ``bundle_root`` of the bundles' configs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from .options import _is_bundle_cli, config_files

__all__ = ["bundle_root"]

#: the repository's ``bundles/`` folder (a clone or an editable install)
REPOSITORY_BUNDLES = Path(__file__).resolve().parents[2] / "bundles"


def bundle_root(task: str, argv: Sequence[str] | None = None) -> str:
    """The folder of the bundle ``task``, as the default of its ``bundle_root``: the folder of the first
    ``--config_file`` on the ``python -m monai.bundle`` command line (so that a bundle runs from any working
    directory, inside its folder or not), otherwise (a bundle run from Python) the repository's
    ``bundles/<task>``. ``--bundle_root`` overrides it.

    Example::

        # cd bundles/boundary && python -m monai.bundle run training --config_file train.json
        bundle_root("boundary")   # -> "/path/to/repository/bundles/boundary"
    """
    if argv is None:
        argv = sys.argv if _is_bundle_cli(sys.argv) else []
    files = config_files(argv[1:]) if argv else []
    if files:
        return str(Path(files[0]).expanduser().resolve().parent)
    return str(REPOSITORY_BUNDLES / task)
