import pytest

from unet3d_monai.options import as_bool


@pytest.mark.parametrize("value, expected", [(True, True), ("false", False), ("True", True), (0, False), ("yes", True)])
def test_as_bool(value, expected):
    assert as_bool(value) is expected


def test_as_bool_rejects_other_words():
    with pytest.raises(ValueError, match="--resume must be true or false, got 'maybe'"):
        as_bool("maybe", "resume")


def test_as_optional_reads_the_words_of_an_unset_option():
    from unet3d_monai.options import as_optional

    assert [as_optional(v) for v in (None, "none", "null", "")] == [None] * 4
    assert as_optional("local:2") == "local:2" and as_optional("1/4") == "1/4" and as_optional(0) == 0
