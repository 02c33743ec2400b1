"""The package's imports run one way, down the layers of ``[tool.importlinter]`` in ``pyproject.toml``
(docs/design.md), and every name the bundles, the README, docs/, examples/ and benchmarks/ reach still resolves
where they reach it, whichever folder the code behind it lives in."""

import importlib
import re
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
_DOTTED = re.compile(r"unet3d_monai(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_SOURCES = ("bundles", "docs", "examples", "benchmarks")
_SUFFIXES = {".json", ".md", ".py", ".yml", ".yaml"}


def test_imports_follow_the_layers(capsys):
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert status == 0, capsys.readouterr().out


def _named() -> list[str]:
    files = [ROOT / "README.md"]
    for folder in _SOURCES:
        files += [
            path
            for path in sorted((ROOT / folder).rglob("*"))
            if path.suffix in _SUFFIXES and path.is_file() and "_work" not in path.parts
        ]
    names = set()
    for path in files:
        names.update(_DOTTED.findall(path.read_text(errors="replace")))
    return sorted(names)


def _resolve(name: str) -> object:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:end]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[end:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(name)


@pytest.mark.parametrize("name", _named())
def test_every_name_the_bundles_and_docs_use_resolves(name):
    if name.startswith("unet3d_monai.napari"):
        pytest.importorskip("napari", reason="the napari plugin needs the extra: pip install 'unet3d-monai[napari]'")
    _resolve(name)
