"""A box of a volume: one slice per axis, as volumes are read, predicted and written block by block."""

__all__ = ["Region"]

Region = tuple[slice, ...]
