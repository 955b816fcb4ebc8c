#!/usr/bin/env bash
# Run the whole test suite: unit and integration tests against the real embedded server,
# and the runbooks under nbval. Sets up .venv first if it is missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pytest "$@"
