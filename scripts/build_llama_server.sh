#!/usr/bin/env bash
# Build llama.cpp's own llama-server, once, from the llama.cpp source vendored in the llama-cpp-python sdist the
# install already uses (so it is the same llama.cpp as the embedded server's), with the same portable flags.
# The tests run the kit against it: a server the kit did not write. About 8 minutes on 2 cores the first time;
# the binary is cached outside the checkout, keyed by version and flags, and printed on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_CPP_PYTHON_VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
LLAMA_CMAKE_ARGS=${LLAMA_CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"}
key=$(printf '%s %s' "$LLAMA_CPP_PYTHON_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-16)
cache=${NXS_LAB_LLAMA_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nxs-lab/llama-server-$key}
if [ -x "$cache/llama-server" ]; then
  echo "$cache/llama-server"
  exit 0
fi
PY=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "nxs_lab: building llama.cpp's llama-server (llama-cpp-python $LLAMA_CPP_PYTHON_VERSION's llama.cpp; about 8 minutes on 2 cores)" >&2
"$PY" -m pip download --quiet --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2
tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
src=$(ls -d "$work"/llama_cpp_python-*/vendor/llama.cpp)
# shellcheck disable=SC2086 # the flags are a list
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON $LLAMA_CMAKE_ARGS >&2
cmake --build "$work/build" --target llama-server -j "${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" >&2
mkdir -p "$cache"
cp "$work/build/bin/llama-server" "$cache/llama-server.tmp"
mv "$cache/llama-server.tmp" "$cache/llama-server"
echo "$cache/llama-server"
