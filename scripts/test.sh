#!/usr/bin/env bash
# Run the whole test suite: unit and integration tests against the real embedded server,
# and the runbooks under nbval. Sets up .venv first if it is missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
# llama.cpp's own server, built once from the same llama.cpp source (about 8 minutes the first time, then cached):
# the tests run the kit against a server it did not write.
NXS_LAB_LLAMA_SERVER=${NXS_LAB_LLAMA_SERVER:-$(bash scripts/build_llama_server.sh | tail -n 1)}
export NXS_LAB_LLAMA_SERVER
# LiteLLM's proxy, for the gateway tests: a venv of its own, cached outside the checkout (about 90 s the first time).
NXS_LAB_LITELLM=${NXS_LAB_LITELLM:-$(bash scripts/install_gateway.sh | tail -n 1)}
export NXS_LAB_LITELLM
# jupyter-ai 3, for the @nxs persona's tests: a venv of its own too, cached outside the checkout.
NXS_LAB_JUPYTER_AI3=${NXS_LAB_JUPYTER_AI3:-$(bash scripts/install_jupyter_ai3.sh | tail -n 1)}
export NXS_LAB_JUPYTER_AI3
exec .venv/bin/python -m pytest "$@"
