import pytest

from unet3d_monai.bundle import as_bool, user_error


def test_innermost_package_error_is_found_through_wrappers():
    try:
        try:
            as_bool("perhaps", "resume")
        except ValueError as inner:
            raise RuntimeError("Failed to evaluate ConfigExpression") from inner
    except RuntimeError as outer:
        found = user_error(outer)
    assert isinstance(found, ValueError) and str(found) == "--resume must be true or false, got 'perhaps'."


def test_errors_from_elsewhere_are_not_claimed():
    with pytest.raises(ZeroDivisionError) as info:
        _ = 1 / 0
    assert user_error(info.value) is None
