"""Checks and input selection read from the steps of the prediction chain."""

from pathlib import Path

import pytest

from unet3d_monai.inference.chain_checks import parse_part, select_part


def test_part_k_of_n_takes_every_nth_input_from_the_kth():
    files = [Path(f"v{i}.h5") for i in range(7)]
    parts = [select_part(files, f"{k}/3") for k in (1, 2, 3)]
    assert [[p.name for p in part] for part in parts] == [
        ["v0.h5", "v3.h5", "v6.h5"],
        ["v1.h5", "v4.h5"],
        ["v2.h5", "v5.h5"],
    ]
    assert select_part(files, None) == files
    for bad in ("0/3", "4/3", "1-3", "a/b", "1/3/4"):
        with pytest.raises(ValueError, match="must be K/N"):
            parse_part(bad)
