"""The plan of a training run: written beside its checkpoints, taken from there when the run is resumed."""

import json

import pytest

from unet3d_monai.handlers import BestAndLastCheckpointer
from unet3d_monai.networks import UNet3D
from unet3d_monai.planning import training as training_module
from unet3d_monai.planning.training import PLAN_FILENAME, plan_training


def _save(plan, ckpt_dir):
    """What the checkpointer writes beside the training state (see the last test)."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    (ckpt_dir / PLAN_FILENAME).write_text(json.dumps(plan.to_dict()))


def _network():
    return UNet3D(1, 1, f_maps=[4, 8], num_groups=2)


def test_the_plan_is_written_and_a_resumed_run_takes_it_without_planning_again(two_volumes, tmp_path, monkeypatch):
    ckpt_dir = tmp_path / "models"
    first = plan_training(two_volumes / "train", _network(), "cpu", batch_size=1, ckpt_dir=ckpt_dir)
    assert not ckpt_dir.exists()  # the checkpointer writes the plan with the first training state
    _save(first, ckpt_dir)

    def must_not_plan(*args, **kwargs):
        raise AssertionError("a resumed run planned again")

    monkeypatch.setattr(training_module, "make_plan", must_not_plan)
    monkeypatch.setattr(training_module, "compute_fingerprint", must_not_plan)
    resumed = plan_training(two_volumes / "train", _network(), "cpu", batch_size=1, ckpt_dir=ckpt_dir, resume="true")
    assert resumed.to_dict() == json.loads(json.dumps(first.to_dict()))
    assert resumed.patch_size == first.patch_size and resumed.pool_kernel_size == first.pool_kernel_size


def test_resuming_with_another_setting_than_the_plan_is_refused_in_one_sentence(two_volumes, tmp_path):
    ckpt_dir = tmp_path / "models"
    _save(plan_training(two_volumes / "train", _network(), "cpu", batch_size=1, ckpt_dir=ckpt_dir), ckpt_dir)
    with pytest.raises(ValueError, match=r"--batch_size 2 differs from the 1 this training started with .*plan\.json"):
        plan_training(two_volumes / "train", _network(), "cpu", batch_size=2, ckpt_dir=ckpt_dir, resume=True)


def test_the_checkpointer_writes_the_plan_with_every_training_state(two_volumes, tmp_path):
    ckpt_dir = tmp_path / "models"
    plan = plan_training(two_volumes / "train", _network(), "cpu", batch_size=1)
    network = _network()
    saver = BestAndLastCheckpointer(
        ckpt_dir, network, {"network": network}, higher_is_better=True, record={"plan": plan.to_dict()}
    )
    saver.save_last()
    assert json.loads((ckpt_dir / PLAN_FILENAME).read_text()) == json.loads(json.dumps(plan.to_dict()))
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["last.pt", PLAN_FILENAME]
