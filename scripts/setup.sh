#!/usr/bin/env bash
# Create .venv and install interleaf with everything the demo and tests need.
# torch/torchvision go first with plain pip (pinned builds; see DEVELOPERS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.interleaf-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
  python -m pip install --quiet -e ".[train,dev,bench,pairs]"
  python -m pip install --quiet --no-deps "open-flamingo==2.0.1" "einops==0.8.2" "einops-exts==0.0.4"
  touch "$stamp"
fi
