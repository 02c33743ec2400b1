"""``python -m unet3d_monai convert CONFIG.yml BUNDLE_DIR``: the ``unet3d-monai`` command."""

from unet3d_monai.compat.cli import main

raise SystemExit(main())
