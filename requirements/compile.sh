#!/usr/bin/env bash
# Compiles requirements/constraints.txt, the versions CI installs and tests, from requirements/constraints.in.
# Run from anywhere on a machine with the CPU build of torch 2.13.0 at hand (a --find-links folder or
# https://download.pytorch.org/whl/cpu as an extra index): pip install pip-tools && bash requirements/compile.sh
# The project's own line is left out (a constraints file holds names and versions only), and torch is pinned by
# its public version, which the CPU build (2.13.0+cpu) and the CUDA build (2.13.0) both satisfy.
set -euo pipefail
cd "$(dirname "$0")/.."
out=requirements/constraints.txt
pip-compile --quiet --no-header --strip-extras --no-emit-index-url --no-emit-find-links --no-annotate \
    --output-file "$out.tmp" "$@" requirements/constraints.in
{
    echo "# Versions known to pass this project's CI (Python 3.11, CPU), compiled by requirements/compile.sh from"
    echo "# requirements/constraints.in. Use as constraints: pip install -c requirements/constraints.txt -e \".[test]\""
    grep -v '^-e ' "$out.tmp" | sed -E 's/^torch==([0-9.]+)\+[a-z0-9]+/torch==\1/'
} > "$out"
rm "$out.tmp"
