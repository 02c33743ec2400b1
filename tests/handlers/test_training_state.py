import logging
import os
import signal

import pytest
import torch
from ignite.engine import Engine, Events

from unet3d_monai.handlers import BestAndLastCheckpointer, TrainingStateLoader, TrainingStateSaver


def _setup(tmp_path, step=None, validate_every=None, **saver_args):
    """A trainer of 2 epochs x 5 iterations, its checkpointer (validating every ``validate_every`` epochs) and a
    saver; returns them with the list of iterations at which last.pt was written."""
    net = torch.nn.Linear(2, 1)
    trainer = Engine(step or (lambda engine, batch: None))
    evaluator = Engine(lambda engine, batch: None)
    evaluator.state.key_metric_name = "val_metric"
    evaluator.add_event_handler(Events.EPOCH_COMPLETED, lambda e: e.state.metrics.update(val_metric=0.5))
    checkpointer = BestAndLastCheckpointer(tmp_path, net, {"network": net}, True, validator=evaluator)
    written = []
    save_last = checkpointer.save_last

    def recording_save_last():
        written.append(trainer.state.iteration)
        return save_last()

    checkpointer.save_last = recording_save_last
    if validate_every:
        trainer.add_event_handler(Events.EPOCH_COMPLETED(every=validate_every), lambda e: evaluator.run([0]))
    checkpointer.attach(trainer)
    saver = TrainingStateSaver(checkpointer, **saver_args)
    saver.attach(trainer)
    return trainer, saver, written


def test_written_every_n_iterations_at_epoch_ends_and_at_the_end(tmp_path):
    trainer, _, written = _setup(tmp_path, every_n_iterations=3, every_minutes=0)
    trainer.run(range(5), max_epochs=2)
    assert written == [3, 5, 6, 9, 10]
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["trainer"]["iteration"] == 10 and {"random_states", "network", "checkpointer"} <= set(last)


def test_written_every_m_minutes(tmp_path):
    """Each iteration takes 40 s on a fake clock: a 1-minute interval writes every second iteration."""
    now = [0.0]

    def step(engine, batch):
        now[0] += 40.0

    trainer, _, written = _setup(tmp_path, step=step, every_minutes=1, clock=lambda: now[0])
    trainer.run(range(5), max_epochs=2)
    assert written == [2, 4, 5, 7, 9, 10]  # 5: end of the first epoch, which restarts the interval


def test_validation_writes_are_not_repeated(tmp_path):
    trainer, _, written = _setup(tmp_path, validate_every=1, every_minutes=0)
    trainer.run(range(5), max_epochs=2)
    assert written == [5, 10]  # both by the checkpointer after validating; the saver had nothing new to write


def test_sigint_finishes_the_iteration_writes_and_exits_with_a_resume_hint(tmp_path, capsys):
    def step(engine, batch):
        if engine.state.iteration == 4:
            os.kill(os.getpid(), signal.SIGINT)

    trainer, saver, written = _setup(tmp_path, step=step, every_minutes=0)
    trainer.run(range(5), max_epochs=2)
    assert trainer.state.iteration == 4 and written == [4]
    assert torch.load(tmp_path / "last.pt", weights_only=True)["trainer"]["iteration"] == 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the usual Ctrl-C again
    with pytest.raises(SystemExit) as exit_info:
        saver.exit_if_interrupted()
    assert exit_info.value.code == 128 + signal.SIGINT
    message = capsys.readouterr().err.strip().splitlines()[-1]  # the last line: earlier ones may hold log records
    assert message == (
        f"Training stopped by SIGINT after iteration 4 (epoch 1) and saved its state in {tmp_path / 'last.pt'}: "
        "run the same command with --resume true to continue exactly where it stopped."
    )


def test_a_second_signal_stops_at_once(tmp_path):
    def step(engine, batch):
        if engine.state.iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    trainer, saver, written = _setup(tmp_path, step=step, every_minutes=0)
    with pytest.raises(KeyboardInterrupt):
        trainer.run(range(5), max_epochs=2)
    assert written == [] and not saver.interrupted
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_sigint_stays_ignored(tmp_path):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as nohup or a script's background job starts it
    try:

        def step(engine, batch):
            if engine.state.iteration == 2:
                os.kill(os.getpid(), signal.SIGINT)

        trainer, saver, written = _setup(tmp_path, step=step, every_minutes=0)
        trainer.run(range(5), max_epochs=1)
        assert trainer.state.iteration == 5 and not saver.interrupted
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_run_that_completes_exits_normally(tmp_path):
    trainer, saver, _ = _setup(tmp_path, every_minutes=0)
    trainer.run(range(5), max_epochs=1)
    saver.exit_if_interrupted()  # no SystemExit


@pytest.mark.parametrize(
    "args, match",
    [({"every_n_iterations": -1}, "save_every_iterations"), ({"every_minutes": "5"}, "save_every_minutes")],
)
def test_bad_intervals_are_named(tmp_path, args, match):
    with pytest.raises(ValueError, match=match):
        _setup(tmp_path, **args)


def test_amp_scaler_and_random_states_are_saved_and_restored(tmp_path):
    net = torch.nn.Linear(2, 1)
    trainer = Engine(lambda engine, batch: None)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    checkpointer = BestAndLastCheckpointer(tmp_path, net, {"network": net}, True, validator=Engine(lambda e, b: None))
    checkpointer.attach(trainer)
    trainer.run(range(2), max_epochs=1)
    checkpointer.save_last()
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert saved["scaler"]["scale"] == 1024.0 and saved["trainer"]["iteration"] == 2

    resumed = Engine(lambda engine, batch: None)
    resumed.scaler = torch.amp.GradScaler("cpu", init_scale=1.0)
    TrainingStateLoader(str(tmp_path / "last.pt"), {"network": torch.nn.Linear(2, 1)}).attach(resumed)
    resumed.run(range(2), max_epochs=2)
    assert resumed.scaler.get_scale() == 1024.0 and resumed.state.iteration == 4


def test_a_state_without_random_states_resumes_with_a_warning(tmp_path, caplog):
    net = torch.nn.Linear(2, 1)
    trainer = Engine(lambda engine, batch: None)
    trainer.run(range(2), max_epochs=1)
    torch.save({"network": net.state_dict(), "trainer": trainer.state_dict()}, tmp_path / "last.pt")
    resumed = Engine(lambda engine, batch: None)
    TrainingStateLoader(str(tmp_path / "last.pt"), {"network": torch.nn.Linear(2, 1)}).attach(resumed)
    with caplog.at_level(logging.WARNING):
        resumed.run(range(2), max_epochs=2)
    assert resumed.state.iteration == 4
    assert "holds no random_states: training resumes, but does not repeat the interrupted run exactly" in caplog.text


def test_a_stop_before_the_first_iteration_still_leaves_a_state(tmp_path):
    trainer, saver, written = _setup(tmp_path, every_minutes=0)
    trainer.add_event_handler(Events.STARTED, lambda e: os.kill(os.getpid(), signal.SIGTERM))
    trainer.run(range(5), max_epochs=1)
    assert written == [0] and saver.interrupted and saver.stop_signal == signal.SIGTERM
    assert torch.load(tmp_path / "last.pt", weights_only=True)["trainer"]["iteration"] == 0
