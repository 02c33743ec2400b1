import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from ignite.engine import Engine, Events

from unet3d_monai.handlers import BestAndLastCheckpointer, atomic_torch_save


def _evaluator(scores):
    """An engine whose epoch n reports scores[n - 1] as its key metric."""

    def step(engine, batch):
        return batch

    engine = Engine(step)
    engine.state.key_metric_name = "val_metric"

    @engine.on(Events.EPOCH_COMPLETED)
    def _set_metric(e):
        e.state.metrics = {"val_metric": scores[e.state.epoch - 1]}

    return engine


@pytest.mark.parametrize(
    "higher_is_better, scores, best_epoch, best", [(True, [0.2, 0.5, 0.4], 2, 0.5), (False, [0.3, 0.1, 0.2], 2, 0.1)]
)
def test_best_follows_metric_direction(tmp_path, higher_is_better, scores, best_epoch, best):
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    saver = BestAndLastCheckpointer(tmp_path, net, {"network": net, "optimizer": opt}, higher_is_better)
    evaluator = _evaluator(scores)
    # the metric handler must run before the saver: attach it after the metric-setting handler
    saver.attach(evaluator)
    weights_at_best = {}

    @evaluator.on(Events.EPOCH_COMPLETED)
    def _change_weights(e):
        if e.state.epoch == best_epoch:
            weights_at_best.update({k: v.clone() for k, v in net.state_dict().items()})
        with torch.no_grad():
            net.weight.add_(1.0)

    evaluator.run([0], max_epochs=len(scores))
    assert saver.best_metric == best and saver.best_epoch == best_epoch
    best_state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert set(best_state) == {"weight", "bias"}
    torch.testing.assert_close(best_state["weight"], weights_at_best["weight"])
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(last) == {"network", "optimizer", "checkpointer"}
    assert last["checkpointer"] == {"best_metric": best, "best_epoch": best_epoch}
    # the last state holds the weights as they were after the final validation (before its +1 update)
    torch.testing.assert_close(last["network"]["weight"], net.weight.detach() - 1.0)


def test_nan_metric_never_best(tmp_path):
    net = torch.nn.Linear(2, 1)
    saver = BestAndLastCheckpointer(tmp_path, net, {"network": net}, higher_is_better=True)
    saver.attach(_evaluator([float("nan")]))
    saver.load_state_dict({"best_metric": None, "best_epoch": -1})
    assert not saver.is_improvement(float("nan"))
    assert saver.is_improvement(0.0)


def test_restored_best_is_respected(tmp_path):
    net = torch.nn.Linear(2, 1)
    saver = BestAndLastCheckpointer(tmp_path, net, {"network": net}, higher_is_better=False)
    saver.load_state_dict({"best_metric": 0.1, "best_epoch": 4})
    evaluator = _evaluator([0.2])
    saver.attach(evaluator)
    evaluator.run([0], max_epochs=1)
    assert not (tmp_path / "model.pt").exists()
    assert (tmp_path / "last.pt").exists() and saver.best_metric == 0.1


def test_missing_key_metric_is_explained(tmp_path):
    net = torch.nn.Linear(2, 1)
    saver = BestAndLastCheckpointer(tmp_path, net, {"network": net}, higher_is_better=True)
    engine = Engine(lambda e, b: b)
    saver.attach(engine)
    with pytest.raises(KeyError, match="key metric"):
        engine.run([0], max_epochs=1)


def test_atomic_save_survives_kill(tmp_path):
    """Killing a process in the middle of saving leaves the previous complete file."""
    target = tmp_path / "last.pt"
    atomic_torch_save({"x": torch.zeros(3)}, target)
    script = textwrap.dedent(
        f"""
        import torch
        from unet3d_monai.handlers import atomic_torch_save
        big = {{"x": torch.ones(64, 1024, 1024)}}
        while True:
            atomic_torch_save(big, {str(target)!r})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        # wait until at least one temporary file shows the child is writing, then kill it mid-write
        for _ in range(600):
            if any(p.name.startswith(".last.pt.") for p in tmp_path.iterdir()):
                break
            proc.wait(timeout=0.05) if proc.poll() is not None else None
            import time

            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    state = torch.load(target, weights_only=True)
    assert state["x"].shape in {(3,), (64, 1024, 1024)}


def test_trainer_saved_and_restored_through_validator(tmp_path):
    """Attached to the trainer, the checkpointer saves the trainer counters; the loader restores them."""
    from unet3d_monai.handlers import TrainingStateLoader

    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    evaluator = _evaluator([0.5, 0.4, 0.7])
    trainer = Engine(lambda e, b: None)

    @trainer.on(Events.EPOCH_COMPLETED)
    def _validate(e):
        evaluator.run([0], max_epochs=e.state.epoch)

    saver = BestAndLastCheckpointer(tmp_path, net, {"network": net, "optimizer": opt}, True, validator=evaluator)
    saver.attach(trainer)
    trainer.run([0, 1, 2, 3], max_epochs=2)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["trainer"]["iteration"] == 8 and last["checkpointer"]["best_metric"] == 0.5

    restored_net = torch.nn.Linear(2, 1)
    restored_saver = BestAndLastCheckpointer(tmp_path, restored_net, {"network": restored_net}, True)
    resumed = Engine(lambda e, b: None)
    TrainingStateLoader(str(tmp_path / "last.pt"), {"network": restored_net, "checkpointer": restored_saver}).attach(
        resumed
    )
    resumed.run([0, 1, 2, 3], max_epochs=3)
    assert resumed.state.iteration == 12 and resumed.state.epoch == 3
    assert restored_saver.best_metric == 0.5
    torch.testing.assert_close(restored_net.weight, net.weight)


def test_a_damaged_training_state_is_one_sentence(tmp_path):
    from unet3d_monai.compat import NotACheckpointError
    from unet3d_monai.handlers import TrainingStateLoader

    last = tmp_path / "last.pt"
    last.write_bytes(b"half of a training state")
    resumed = Engine(lambda e, b: None)
    TrainingStateLoader(str(last), {"network": torch.nn.Linear(2, 1)}).attach(resumed)
    with pytest.raises(NotACheckpointError) as info:
        resumed.run([0], max_epochs=1)
    assert str(info.value) == (
        f"{last} is not a readable checkpoint: the file is damaged or truncated, or was not written by torch.save; "
        "expected the training state that training writes beside the weights (last.pt)."
    )


@pytest.mark.parametrize("epochs, interval, validated", [(3, 2, [3]), (4, 2, []), (1, 5, [1])])
def test_final_validation_scores_the_last_epochs(epochs, interval, validated):
    """Only a last epoch that the interval skipped is validated at the end."""
    from unet3d_monai.handlers import FinalValidation

    class Recorder:
        runs: list = []

        def run(self, epoch):
            self.runs.append(epoch)

    recorder = Recorder()
    recorder.runs = []
    trainer = Engine(lambda e, b: None)
    FinalValidation(recorder, interval).attach(trainer)
    trainer.run([0], max_epochs=epochs)
    assert recorder.runs == validated


def test_atomic_save_gives_ordinary_permissions_without_touching_the_umask(tmp_path, monkeypatch):
    import stat

    def forbidden(mask):
        raise AssertionError("os.umask changes the mask of every thread of the process")

    (tmp_path / "plain").write_bytes(b"")  # a file created the ordinary way, for the expected mode
    monkeypatch.setattr(os, "umask", forbidden)
    path = atomic_torch_save({"w": torch.ones(2)}, tmp_path / "model.pt")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert torch.load(path, weights_only=True)["w"].tolist() == [1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "plain"]
