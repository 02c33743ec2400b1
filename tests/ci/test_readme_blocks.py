"""The runner of the README's code blocks (``.ci/readme_blocks.py``): how it reads blocks and markers, how it adds
training arguments, and the README as it is today (every block runs or says why not; CI runs its test command)."""

import importlib.util
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("readme_blocks", ROOT / ".ci" / "readme_blocks.py")
readme_blocks = importlib.util.module_from_spec(_spec)
sys.modules["readme_blocks"] = readme_blocks  # dataclasses look their module up by name
_spec.loader.exec_module(readme_blocks)

DOC = """# Title

## Install

<!-- ci: skip: needs a GPU -->
```bash
nvidia-smi
```

```bash
pip install -e .  # -> build/thing
```

```text
not a command
```

## Train
<!-- ci: training-args: --epochs 1 -->
```bash
python -m monai.bundle run training --config_file bundles/nuclei/train.json
```

```python
print("hello")
```
"""


def test_blocks_their_sections_and_markers():
    blocks = readme_blocks.parse_blocks(DOC)
    assert [(b.language, b.line, b.section) for b in blocks] == [
        ("bash", 6, "Install"),
        ("bash", 10, "Install"),
        ("text", 14, "Install"),
        ("bash", 20, "Train"),
        ("python", 24, "Train"),
    ]
    assert [b.runs for b in blocks] == [False, True, False, True, True]
    assert blocks[0].marker == ("skip", "needs a GPU")
    assert blocks[1].produces() == ["build/thing"]
    assert blocks[3].script() == (
        "python -m monai.bundle run training --config_file bundles/nuclei/train.json --epochs 1\n"
    )
    assert blocks[4].code == 'print("hello")\n'


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("<!-- ci: skip: -->\n```bash\nls\n```\n", "needs a value"),
        ("<!-- ci: later: soon -->\n```bash\nls\n```\n", "unknown ci marker 'later'"),
        ("<!-- ci: skip: no reason here -->\n\n```bash\nls\n```\n", "right above"),
        ("<!-- ci: skip: a table -->\n```text\nls\n```\n", "never runs"),
        ("<!-- ci skip because -->\n```bash\nls\n```\n", "must read"),
        ("```bash\nls\n", "never closed"),
    ],
)
def test_a_malformed_marker_or_fence_is_named_with_its_line(text, words):
    with pytest.raises(ValueError, match=words) as info:
        readme_blocks.parse_blocks(text)
    assert "README line 1:" in str(info.value)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            "python -m monai.bundle run training --config_file a.json\n",
            "python -m monai.bundle run training --config_file a.json --epochs 1\n",
        ),
        (
            "pip install -e . && python -m monai.bundle run training --config_file a.json  # trains\n",
            "pip install -e . && python -m monai.bundle run training --config_file a.json --epochs 1  # trains\n",
        ),
        (
            "python -m monai.bundle run training --config_file a.json && ls out\n",
            "python -m monai.bundle run training --config_file a.json --epochs 1 && ls out\n",
        ),
        (
            "python -m monai.bundle run training \\\n    --network_def#f_maps 16 --tag '#1'\nls\n",
            "python -m monai.bundle run training \\\n    --network_def#f_maps 16 --tag '#1' --epochs 1\nls\n",
        ),
        ("python -m monai.bundle run --config_file i.json\n", "python -m monai.bundle run --config_file i.json\n"),
    ],
)
def test_training_args_go_to_the_end_of_each_training_command(code, expected):
    assert readme_blocks.add_training_args(code, "--epochs 1") == expected


def test_every_block_of_the_readme_runs_or_says_why_not():
    blocks = readme_blocks.parse_blocks((ROOT / "README.md").read_text())
    commands = [b for b in blocks if b.language in readme_blocks.RUN_LANGUAGES]
    assert len(commands) >= 8
    for block in commands:
        if block.marker is not None and block.marker[0] == "skip":
            assert len(block.marker[1].split()) >= 3, f"line {block.line}: say why the block cannot run in CI"
    # the quick start trains at its real defaults: the first training command carries no marker
    first_training = next(b for b in commands if readme_blocks.TRAINING.search(b.code))
    assert first_training.marker is None, first_training.line
    assert "bundles/boundary/train.json" in first_training.code


def test_ci_runs_the_readme_test_command():
    blocks = readme_blocks.parse_blocks((ROOT / "README.md").read_text())
    tests = [b for b in blocks if b.language == "bash" and "pytest" in b.code]
    assert len(tests) == 1, [b.line for b in tests]
    ci = (ROOT / ".ci" / "run").read_text()
    quiet = {"--quiet", "-q"}  # pip's output is CI's choice
    ci_commands = [
        [word for word in shlex.split(line) if word not in quiet or "pytest" in line]
        for line in ci.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for line in tests[0].code.splitlines():
        for command in line.split("&&"):
            words = shlex.split(command, comments=True)
            if words:
                assert words in ci_commands or ["python", "-m", *words] in ci_commands, command
