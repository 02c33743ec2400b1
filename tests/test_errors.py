import pytest
from monai.bundle import ConfigParser

from unet3d_monai.bundle import as_bool, explain, user_error
from unet3d_monai.bundle.checks import check_device
from unet3d_monai.errors import (
    _LOG_FILTER,
    TRACEBACK_VARIABLE,
    instantiation_error,
    quiet_user_error_logs,
    worker_error,
)


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


def _reraised_from_worker(raise_in_worker):
    """The error PyTorch raises in the main process for one that ``raise_in_worker`` raised in a DataLoader worker."""
    from torch._utils import ExceptionWrapper

    try:
        raise_in_worker()
    except Exception:
        wrapper = ExceptionWrapper(where="in DataLoader worker process 0")
    with pytest.raises(Exception) as info:
        wrapper.reraise()
    return info.value


def test_a_package_error_raised_in_a_dataloader_worker_is_explained(tmp_path):
    from unet3d_monai.io.files import open_h5

    missing = tmp_path / "missing.h5"

    def load():  # as MONAI's Compose wraps the error of a transform
        try:
            open_h5(missing)
        except FileNotFoundError as error:
            raise RuntimeError("applying transform <LoadHDF5d object>") from error

    error = _reraised_from_worker(load)
    assert str(error).startswith("Caught RuntimeError in DataLoader worker process 0.")
    assert user_error(error) is None
    assert worker_error(error) == explain(error) == f"HDF5 file '{missing}' does not exist."
    wrapped = _wrapped(error)
    assert explain(wrapped) == f"HDF5 file '{missing}' does not exist."


def test_an_error_from_elsewhere_raised_in_a_worker_is_not_claimed():
    error = _reraised_from_worker(lambda: 1 / 0)
    assert worker_error(error) is None and explain(error) is None


def _wrapped(error):
    try:
        raise RuntimeError("Failed to evaluate ConfigExpression") from error
    except RuntimeError as outer:
        return outer


@pytest.fixture
def quiet_logs():
    """A logger writing to a string, with :func:`quiet_user_error_logs` applied; the filter is removed again
    from every handler afterwards."""
    import io
    import logging

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.bundle.quiet_logs")
    logger.addHandler(handler)
    logger.propagate = False
    quiet_user_error_logs()
    yield logger, stream
    logger.removeHandler(handler)
    later = logging.getLogger("tests.bundle.quiet_logs.later")
    for found in [logging.getLogger(), *logging.Logger.manager.loggerDict.values(), later]:
        for h in getattr(found, "handlers", []):
            h.removeFilter(_LOG_FILTER)
    later.handlers.clear()
    if logging.lastResort is not None:
        logging.lastResort.removeFilter(_LOG_FILTER)


def test_the_log_keeps_no_traceback_of_bad_input(quiet_logs, monkeypatch):
    """What ignite's engines and MONAI's StatsHandler log about an error that stops a run is dropped when the error
    is bad input; other errors, and other records, are logged as before."""
    import logging

    logger, stream = quiet_logs
    monkeypatch.delenv(TRACEBACK_VARIABLE, raising=False)
    try:
        try:
            as_bool("perhaps", "resume")
        except ValueError as inner:
            raise RuntimeError("applying transform <LoadHDF5d object>") from inner
    except RuntimeError as error:
        logger.error(f"Current run is terminating due to exception: {error}")  # ignite's engine
        logger.exception(f"Exception: {error}")  # MONAI's StatsHandler
        logger.error("the training state could not be saved")  # not about the error
    assert stream.getvalue() == "the training state could not be saved\n"

    later = logging.getLogger("tests.bundle.quiet_logs.later")  # a logger made after the filter was installed
    later.propagate = False
    later.addHandler(logging.StreamHandler(stream))
    stream.seek(0)
    stream.truncate()
    try:
        as_bool("perhaps", "resume")
    except ValueError as error:
        logger.error(f"Engine run is terminating due to exception: {error}")
        later.exception(f"Exception: {error}")
    assert stream.getvalue() == ""

    stream.seek(0)
    stream.truncate()
    try:
        _ = 1 / 0
    except ZeroDivisionError as error:
        logger.error(f"Engine run is terminating due to exception: {error}")
        logger.exception(f"Exception: {error}")
    lines = stream.getvalue().splitlines()
    assert lines[:3] == [
        "Engine run is terminating due to exception: division by zero",
        "Exception: division by zero",
        "Traceback (most recent call last):",
    ]
    assert lines[-1] == "ZeroDivisionError: division by zero"


def test_the_traceback_variable_keeps_every_record(quiet_logs, monkeypatch):
    logger, stream = quiet_logs
    monkeypatch.setenv(TRACEBACK_VARIABLE, "1")
    try:
        as_bool("perhaps", "resume")
    except ValueError as error:
        logger.exception(f"Exception: {error}")
    assert stream.getvalue().startswith("Exception: --resume must be true or false, got 'perhaps'.\nTraceback")
