"""Runs the code blocks of README.md as a new user would: in a fresh clone, in a fresh virtual environment, in order.

Every fenced ``bash`` and ``python`` block runs from the clone's root (bash blocks with ``bash -euo pipefail``,
python blocks with the environment's ``python``), after the blocks above it, so a block may use what an earlier
one made. An HTML comment on the line right above a block's opening fence changes that:

- ``<!-- ci: skip: REASON -->``: not run, for the reason given (it is printed with the results);
- ``<!-- ci: training-args: ARGS -->``: run with ARGS added to every ``monai.bundle run training`` command in it.

A comment ``# -> PATH`` in a block says what the block makes: PATH must exist once the block has run.

The environment starts with torch installed (``--torch``, default ``torch==2.13.0``: this machine's CPU build);
the README's own blocks install the project. The run stops at the first block that fails, prints the end of its
output, and exits 1. Usage::

    python .ci/readme_blocks.py                 # clone HEAD of this repository into a temporary folder, run
    python .ci/readme_blocks.py --list          # only show the blocks and what will happen to each
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_LANGUAGES = ("bash", "python")
MARKER = re.compile(r"^<!--\s*ci:\s*(?P<kind>[a-z-]+)\s*:\s*(?P<value>.*?)\s*-->\s*$")
MARKER_KINDS = ("skip", "training-args")
FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<language>[\w+-]*)\s*$")
PRODUCES = re.compile(r"#\s*->\s*(?P<path>[^\s,;:()]+)")
TRAINING = re.compile(r"monai\.bundle\s+run\s+training\b")


@dataclass
class Block:
    """One fenced code block of the README: its language, its text, the line of its opening fence, the section
    it stands in and its marker (``kind``, ``value``; ``None`` when it has none)."""

    language: str
    code: str
    line: int
    section: str
    marker: tuple[str, str] | None = None

    @property
    def runs(self) -> bool:
        return self.language in RUN_LANGUAGES and (self.marker is None or self.marker[0] != "skip")

    def script(self) -> str:
        """The code as it runs: with the training arguments of its marker added."""
        if self.marker is None or self.marker[0] != "training-args":
            return self.code
        return add_training_args(self.code, self.marker[1])

    def produces(self) -> list[str]:
        """The paths its ``# -> PATH`` comments name."""
        return [match.group("path") for match in PRODUCES.finditer(self.code)]


def parse_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, with their markers.

    Raises:
        ValueError: a marker of an unknown kind, a skip without a reason, a marker not followed by a block, a
            marker on a block that does not run, or a fence left open (one sentence naming the line).
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        marker = MARKER.match(line)
        if re.match(r"<!--\s*ci\b", line.strip()) and marker is None:
            raise ValueError(f"README line {i + 1}: a ci marker must read '<!-- ci: KIND: VALUE -->', got {line!r}.")
        if marker is not None:
            kind, value = marker.group("kind"), marker.group("value")
            if kind not in MARKER_KINDS:
                raise ValueError(f"README line {i + 1}: unknown ci marker {kind!r}; expected one of {MARKER_KINDS}.")
            if not value:
                raise ValueError(f"README line {i + 1}: the ci marker {kind!r} needs a value (a reason, arguments).")
            following = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
            if following is None:
                raise ValueError(f"README line {i + 1}: a ci marker must stand right above a code block's fence.")
            if following.group("language") not in RUN_LANGUAGES:
                raise ValueError(f"README line {i + 1}: a ci marker stands above a block that never runs.")
        fence = FENCE.match(line)
        if fence is not None:
            end = next((k for k in range(i + 1, len(lines)) if lines[k].strip() == fence.group("fence")), None)
            if end is None:
                raise ValueError(f"README line {i + 1}: the code block opened here is never closed.")
            previous = MARKER.match(lines[i - 1]) if i > 0 else None
            blocks.append(
                Block(
                    language=fence.group("language"),
                    code="\n".join(lines[i + 1 : end]) + "\n",
                    line=i + 1,
                    section=section,
                    marker=None if previous is None else (previous.group("kind"), previous.group("value")),
                )
            )
            i = end
        i += 1
    return blocks


def _comment_start(line: str) -> int:
    """Where a shell comment starts in ``line`` (a ``#`` after white space, outside quotes), or its length."""
    quote = None
    for k, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (k == 0 or line[k - 1].isspace()):
            return k
    return len(line)


def add_training_args(code: str, args: str) -> str:
    """``code`` with ``args`` added to each ``monai.bundle run training`` command: at the end of the command
    (before a following ``&&``, ``;``, ``|`` or comment), after any backslash-continued lines."""
    out: list[str] = []
    pending: list[str] = []
    for line in code.splitlines():
        pending.append(line)
        if line.rstrip().endswith("\\"):
            continue
        command = "\n".join(pending)
        pending = []
        match = TRAINING.search(command)
        if match is None:
            out.append(command)
            continue
        tail_start = command.rfind("\n") + 1
        last = command[tail_start:]
        cut = _comment_start(last)
        code_part, comment = last[:cut], last[cut:]
        # the training command ends at the first separator after it (in the last physical line)
        after = max(match.end() - tail_start, 0)
        separator = re.search(r"\s*(&&|\|\||;|\|)", code_part[after:])
        end = after + separator.start() if separator else len(code_part.rstrip())
        last = f"{code_part[:end]} {args}{code_part[end:]}{comment}"
        out.append(command[:tail_start] + last)
    out.extend(pending)
    return "\n".join(out) + "\n"


def _run(command: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float) -> int:
    with log.open("w") as handle:
        try:
            return subprocess.run(
                command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            handle.write(f"\n[readme_blocks] stopped after {timeout:.0f} s\n")
            return 124


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", default="README.md", help="the Markdown file, relative to the clone's root")
    parser.add_argument("--source", default=str(ROOT), help="the repository to clone (its HEAD)")
    parser.add_argument("--workdir", help="where the clone, environment and logs go (default: a new temporary folder)")
    parser.add_argument("--torch", default="torch==2.13.0", help="what the fresh environment starts with")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one block may take")
    parser.add_argument("--list", action="store_true", help="list the blocks and what happens to each, run nothing")
    options = parser.parse_args(argv)

    if options.list:
        blocks = parse_blocks((Path(options.source) / options.readme).read_text())
        for number, block in enumerate(blocks, 1):
            what = "runs" if block.runs else ("skipped: " + block.marker[1] if block.marker else "not code")
            if block.marker and block.marker[0] == "training-args":
                what = f"runs with {block.marker[1]}"
            print(f"{number:3d}  line {block.line:4d}  {block.language or '-':7s} [{block.section}] {what}")
        return 0

    workdir = Path(options.workdir or tempfile.mkdtemp(prefix="readme-blocks-"))
    clone, venv, logs = workdir / "clone", workdir / "venv", workdir / "logs"
    for path in (clone, venv, logs):
        shutil.rmtree(path, ignore_errors=True)
    logs.mkdir(parents=True)
    subprocess.run(["git", "clone", "--quiet", options.source, str(clone)], check=True)
    blocks = parse_blocks((clone / options.readme).read_text())
    print(f"[readme_blocks] {len(blocks)} blocks in {options.readme}; clone and environment in {workdir}", flush=True)

    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    start = time.monotonic()
    code = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", options.torch], clone, env,
                logs / "torch.log", options.timeout)  # fmt: skip
    if code != 0:
        print((logs / "torch.log").read_text()[-3000:])
        print(f"[readme_blocks] installing {options.torch} into the fresh environment failed")
        return 1
    print(f"[readme_blocks] fresh environment with {options.torch}: {time.monotonic() - start:.0f} s", flush=True)

    passed = failed = skipped = 0
    results: list[str] = []
    for number, block in enumerate(blocks, 1):
        where = f"block {number} (line {block.line}, {block.section})"
        if block.language not in RUN_LANGUAGES:
            continue
        if not block.runs:
            skipped += 1
            results.append(f"  skipped  {where}: {block.marker[1]}")
            continue
        suffix = ".sh" if block.language == "bash" else ".py"
        script = logs / f"block_{number:02d}{suffix}"
        script.write_text(block.script())
        command = (
            ["bash", "-euo", "pipefail", str(script)]
            if block.language == "bash"
            else [str(venv / "bin" / "python"), str(script)]
        )
        print(f"[readme_blocks] {where}: running", flush=True)
        began = time.monotonic()
        code = _run(command, clone, env, logs / f"block_{number:02d}.log", options.timeout)
        seconds = time.monotonic() - began
        missing = [path for path in block.produces() if not (clone / path).exists()]
        if code != 0 or missing:
            failed += 1
            results.append(f"  FAILED   {where}: {seconds:.0f} s")
            print((logs / f"block_{number:02d}.log").read_text()[-4000:])
            print(f"[readme_blocks] {where} failed:\n{block.script()}")
            if code != 0:
                print(f"[readme_blocks] exit status {code}")
            if missing:
                print(f"[readme_blocks] it says it makes {', '.join(missing)}, which does not exist")
            break
        passed += 1
        results.append(f"  passed   {where}: {seconds:.0f} s")
    print("[readme_blocks] results:\n" + "\n".join(results))
    print(f"[readme_blocks] total {time.monotonic() - start:.0f} s; logs in {logs}")
    print(f"readme: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
