import pytest

from unet3d_monai.options import as_bool


@pytest.mark.parametrize("value, expected", [(True, True), ("false", False), ("True", True), (0, False), ("yes", True)])
def test_as_bool(value, expected):
    assert as_bool(value) is expected


def test_as_bool_rejects_other_words():
    with pytest.raises(ValueError, match="--resume must be true or false, got 'maybe'"):
        as_bool("maybe", "resume")
