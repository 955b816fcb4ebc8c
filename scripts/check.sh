#!/usr/bin/env bash
# The check gate, run before the tests: lint, format and types. Sets up .venv first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test >/dev/null
echo "check: ruff (lint)"
.venv/bin/ruff check nxs_lab tests benchmarks
echo "check: ruff (format)"
.venv/bin/ruff format --check --quiet nxs_lab tests benchmarks
echo "check: mypy"
.venv/bin/mypy
