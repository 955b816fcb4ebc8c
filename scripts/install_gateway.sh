#!/usr/bin/env bash
# LiteLLM's proxy for the gateway tests, in a venv of its own outside the checkout: its pins (rich<14) cannot share
# an environment with the kit's test tools (import-linter needs rich>=14.2), and `nxs-lab gateway` runs it as a
# separate process anyway (NXS_LAB_LITELLM names the executable). About 90 s the first time, then cached; the
# executable's path is printed on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${NXS_LAB_LITELLM_SPEC:-"litellm[proxy]>=1.80,<2"}
key=$(printf '%s' "$spec" | sha256sum | cut -c1-16)
venv=${XDG_CACHE_HOME:-$HOME/.cache}/nxs-lab/litellm-$key
if [ -f "$venv/.complete" ] && [ -x "$venv/bin/litellm" ]; then
  echo "$venv/bin/litellm"
  exit 0
fi
echo "nxs_lab: installing LiteLLM's proxy into $venv (about 90 s the first time)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet "$spec" >&2
touch "$venv/.complete"  # written last: a half-made venv is made again next time
echo "$venv/bin/litellm"
