"""Up-front checks of the sliding-window options of prediction: window size, overlap, windows per batch."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["check_window_options"]


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_fraction(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1


def check_window_options(
    roi_size: Sequence[int] | int,
    overlap: Sequence[float] | float = 0.25,
    sw_batch_size: int = 1,
    block_shape: Sequence[int] | None = None,
) -> None:
    """Fail with one sentence naming the option when a sliding-window option cannot work.

    MONAI's ``SlidingWindowInferer`` reads a window size of 0 (or less) as "the whole volume along that axis" and
    only complains about other bad values, if at all, in the middle of a prediction; the bundles call this in
    ``initialize`` so that a mistyped option stops the run before any file is read or written.

    Args:
        roi_size: window size: 2 or 3 whole numbers of voxels (or one for every axis), each at least 1.
        overlap: fraction of a window shared with its neighbour, at least 0 and below 1 (or one per axis).
        sw_batch_size: windows predicted together, a whole number of at least 1.
        block_shape: block-wise prediction's block size (None: automatic), whole numbers of at least 1.

    Raises:
        ValueError: an option is out of range, naming it and its value.

    Example::

        check_window_options([64, 128, 128], overlap=0.25, sw_batch_size=2)   # fine
        check_window_options([0, 64, 64])   # ValueError: --roi_size [0, 64, 64] must hold 2 or 3 whole numbers ...
    """
    sizes = list(roi_size) if isinstance(roi_size, Sequence) and not isinstance(roi_size, str) else [roi_size]
    if not 1 <= len(sizes) <= 3 or not all(_is_whole(s) and s >= 1 for s in sizes):
        raise ValueError(
            f"--roi_size {_show(roi_size)} must hold 2 or 3 whole numbers of voxels, each at least 1 "
            "(e.g. [64, 128, 128])."
        )
    fractions = list(overlap) if isinstance(overlap, Sequence) and not isinstance(overlap, str) else [overlap]
    if not fractions or not all(_is_fraction(o) for o in fractions):
        raise ValueError(
            f"--overlap {_show(overlap)} must be a fraction of the window of at least 0 and below 1 (such as 0.25), "
            "or one such fraction per axis."
        )
    if len(fractions) > 1 and len(sizes) > 1 and len(fractions) != len(sizes):
        raise ValueError(
            f"--overlap {_show(overlap)} gives {len(fractions)} fractions but --roi_size {_show(roi_size)} has "
            f"{len(sizes)} axes; give one fraction, or one per axis."
        )
    if not _is_whole(sw_batch_size) or sw_batch_size < 1:
        raise ValueError(f"--sw_batch_size {_show(sw_batch_size)} must be a whole number of windows, at least 1.")
    if block_shape is not None:
        blocks = list(block_shape) if isinstance(block_shape, Sequence) and not isinstance(block_shape, str) else None
        if blocks is None or len(blocks) != 3 or not all(_is_whole(b) and b >= 1 for b in blocks):
            raise ValueError(
                f"--block_shape {_show(block_shape)} must hold 3 whole numbers of voxels (Z, Y, X), each at least 1, "
                "or be null for an automatic block size."
            )


def _show(value: object) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return repr(value) if isinstance(value, str) else str(value)
