"""Training progress: a bar on a terminal, plain log lines in a file."""

import io
import logging

import torch
from ignite.engine import Engine

from unet3d_monai.handlers import LossProgressBar
from unet3d_monai.handlers import progress as progress_module


def _progress_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == progress_module.__name__]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _trainer() -> Engine:
    return Engine(lambda engine, batch: {"loss": torch.tensor(0.25 * batch)})


def test_a_log_file_gets_lines_with_the_loss_and_no_carriage_returns(caplog):
    stream = io.StringIO()
    trainer = _trainer()
    LossProgressBar(log_seconds=0, stream=stream).attach(trainer)
    with caplog.at_level(logging.INFO, logger=progress_module.__name__):
        trainer.run([1, 2, 3], max_epochs=2)
    lines = _progress_lines(caplog)
    assert len(lines) == 6
    assert lines[2].startswith("epoch 1/2, iteration 3/3: loss 0.7500, ")
    assert lines[3].startswith("epoch 2/2, iteration 1/3: loss 0.2500, ")
    assert lines[-1].endswith("s/iteration")
    assert stream.getvalue() == ""


def test_lines_are_spaced_by_log_seconds(caplog):
    trainer = _trainer()
    LossProgressBar(log_seconds=3600, stream=io.StringIO()).attach(trainer)
    with caplog.at_level(logging.INFO, logger=progress_module.__name__):
        trainer.run([1, 2, 3], max_epochs=2)
    assert not _progress_lines(caplog)


def test_a_terminal_gets_the_bar(caplog):
    stream = _Terminal()
    trainer = _trainer()
    LossProgressBar(stream=stream).attach(trainer)
    with caplog.at_level(logging.INFO, logger=progress_module.__name__):
        trainer.run([1, 2, 3], max_epochs=1)
    assert "\r" in stream.getvalue() and "loss=0.75" in stream.getvalue()
    assert not _progress_lines(caplog)
