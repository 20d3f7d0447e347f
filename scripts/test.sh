#!/usr/bin/env bash
# Set up .venv (first run only) and run the whole test suite plus the linters.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/install_browser.sh  # Debian's Chromium, for the page tests
export NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
