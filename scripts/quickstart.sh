#!/usr/bin/env bash
# Set everything up and run the main job: install into .venv, then execute the quickstart runbook,
# which starts the embedded server (llama-cpp-python + the bundled SmolLM2 model) on 127.0.0.1,
# lists its models, chats, streams and embeds. The executed notebook is written under runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/nxs-lab run notebooks/00_quickstart.ipynb "$@"
