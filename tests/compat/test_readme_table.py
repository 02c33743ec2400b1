"""The migration tables (docs/migration.md, linked from the README's "Coming from pytorch-3dunet") name every key
the conversion accepts."""

from pathlib import Path

from unet3d_monai.compat import convert
from unet3d_monai.compat.seed_training import LOSS_KEYS, SEED_METRIC_KEYS
from unet3d_monai.compat.seed_transforms import ARRAY_KEYS, SEED_TRANSFORM_OPTIONS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MIGRATION = ROOT / "docs" / "migration.md"


def _section() -> str:
    return MIGRATION.read_text()


def _keys() -> list[str]:
    phase = "loaders.<phase>"
    keys = [*convert.TOP_KEYS, "model.name", "model.<option>", "loss.<option>", "optimizer.<option>"]
    keys += [f"loss.{k}" for k in LOSS_KEYS]
    keys += ["optimizer.name", "optimizer.learning_rate", "optimizer.weight_decay"]
    keys += ["lr_scheduler.name", "lr_scheduler.<option>", "eval_metric.name", "eval_metric.<option>"]
    keys += ["eval_metric.ignore_index", *{f"eval_metric.{k}" for keys in SEED_METRIC_KEYS.values() for k in keys}]
    keys += [f"trainer.{k}" for k in convert.TRAINER_KEYS]
    keys += [f"loaders.{k}" for k in convert.LOADERS_KEYS]
    keys += [f"{phase}.{k}" for k in convert.PHASE_KEYS]
    keys += [f"{phase}.slice_builder.{k}" for k in convert.SLICE_BUILDER_KEYS]
    keys += [f"{phase}.transformer.{k}" for k in ARRAY_KEYS]
    keys += [f"predictor.{k}" for k in convert.PREDICTOR_KEYS]
    return keys + list(SEED_TRANSFORM_OPTIONS)


def test_readme_table_names_every_key():
    section = _section()
    missing = [key for key in _keys() if f"`{key}`" not in section]
    assert not missing, f"the tables of docs/migration.md do not name {missing}"


def test_readme_links_the_tables():
    text = README.read_text()
    start = text.index("## Coming from pytorch-3dunet")
    section = text[start : text.index("\n## ", start + 1)]
    assert "docs/migration.md" in section
