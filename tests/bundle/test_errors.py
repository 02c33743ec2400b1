import pytest
from monai.bundle import ConfigParser

from unet3d_monai.bundle import as_bool, explain, user_error
from unet3d_monai.bundle.checks import check_device
from unet3d_monai.bundle.errors import instantiation_error


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


def test_a_component_monai_cannot_build_is_reduced_to_its_cause():
    parser = ConfigParser(
        {
            "imports": ["$import torch"],
            "weights": "$[torch.nn.Parameter(torch.zeros(1))]",
            "optimizer": {"_target_": "torch.optim.Adam", "params": "@weights", "lr": -1},
            "trainer": {"_target_": "torch.optim.lr_scheduler.StepLR", "optimizer": "@optimizer", "step_size": 1},
        }
    )
    with pytest.raises(RuntimeError) as info:
        parser.get_parsed_content("trainer")
    expected = "config item 'optimizer' (torch.optim.Adam) could not be built: ValueError: Invalid learning rate: -1."
    assert instantiation_error(info.value) == expected
    assert explain(info.value) == expected


def test_own_errors_come_first_and_raise_from_none_hides_the_context():
    try:
        check_device("gpu")  # raised from None over torch's own RuntimeError
    except ValueError as error:
        assert explain(error) == str(error) and str(error).startswith("--device 'gpu' is not a device name")
    assert instantiation_error(ValueError("plain")) is None
