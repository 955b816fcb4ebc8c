#!/usr/bin/env bash
# jupyter-ai 3 for the @nxs persona's tests, in a venv of its own outside the checkout: it pins what the kit's test
# tools need otherwise (jupyterlab 4.6, litellm), and the 2.x provider's tests keep jupyter-ai-magics 2 in .venv.
# A few minutes the first time, then cached; the venv's python is printed on the last line. The tests install the
# checkout into it each run (pip, no dependencies), so it holds the kit as pyproject.toml declares it, entry points
# included.
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${NXS_LAB_JUPYTER_AI3_SPEC:-"jupyter-ai>=3.2,<4"}
key=$(printf '%s' "$spec" | sha256sum | cut -c1-16)
venv=${XDG_CACHE_HOME:-$HOME/.cache}/nxs-lab/jupyter-ai3-$key
if [ -f "$venv/.complete" ] && [ -x "$venv/bin/python" ]; then
  echo "$venv/bin/python"
  exit 0
fi
echo "nxs_lab: installing jupyter-ai 3 into $venv (a few minutes the first time)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet "$spec" >&2
"$venv/bin/python" -m pip install --quiet . >&2  # the kit's own dependencies, once; each test run reinstalls the kit
touch "$venv/.complete"  # written last: a half-made venv is made again next time
echo "$venv/bin/python"
