"""Run a bundle's training in this process with extra handlers attached to its trainer (for tests that need
to watch or interrupt the trainer)."""

from collections.abc import Callable
from pathlib import Path

from ignite.engine import Engine
from monai.bundle import ConfigWorkflow
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[2]


def run_training(task: str, overrides: dict, attach: Callable[[Engine], None] | None = None) -> None:
    """``python -m monai.bundle run training`` of ``bundles/<task>/train.json`` (initialize, run, finalize), with
    ``attach(trainer)`` called before the run."""
    bundle = ROOT / "bundles" / task
    workflow = ConfigWorkflow(
        config_file=str(bundle / "train.json"),
        meta_file=str(bundle / "metadata.json"),
        logging_file=str(bundle / "logging.conf"),
        workflow_type=None,
        run_id="training",
        **overrides,
    )
    workflow.initialize()
    if attach is not None:
        attach(workflow.parser.get_parsed_content("train#trainer"))
    workflow.run()
    workflow.finalize()


def scalars(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Every TensorBoard scalar in ``log_dir`` (all event files), read with TensorBoard's own reader."""
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def images(log_dir: str | Path) -> list[str]:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return sorted(events.Tags()["images"])


def training_overrides(dataset_dir: str | Path, work: Path, options: dict) -> dict:
    """Bundle overrides of a short test training on ``dataset_dir``: weights in ``work/models``, outputs in
    ``work/output``, validation every epoch, no loader workers; ``options`` add to these or replace them."""
    return {
        "dataset_dir": str(dataset_dir),
        "ckpt_dir": str(work / "models"),
        "output_dir": str(work / "output"),
        "val_interval": 1,
        "num_workers": 0,
        **options,
    }
