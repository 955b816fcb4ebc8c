"""Servers the kit did not write, started as their users start them, for tests and benchmarks on loopback.

    >>> with stock_llama_cpp_python(n_ctx=1024) as url:           # doctest: +SKIP
    ...     nx.Provider(base_url=url).chat(...)

``llama_server`` runs llama.cpp's own ``llama-server`` (the binary ``scripts/build_llama_server.sh`` builds, named
by ``NXS_LAB_LLAMA_SERVER``); ``stock_llama_cpp_python`` runs ``python -m llama_cpp.server`` with nothing of the
kit's in front of it. Both serve the bundled model on 127.0.0.1 at a free port and are stopped on exit.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence

import httpx2

from ..local import bundled_model_path

__all__ = [
    "free_port",
    "llama_router",
    "llama_server",
    "llama_server_binary",
    "llama_server_metrics",
    "running",
    "stock_llama_cpp_python",
]


# llama-server's --cache-reuse for the servers the kit starts, by measurement (benchmarks/long_chat.py, 2,048 window,
# 39 turns): with 256, the prompt tokens evaluated again past the window fell from 7 % to 0 % with the stable fit and
# from 68 % to 0 % dropping just enough (time to first token p90 3.8 s → 0.8 s). Off by default in llama-server.
CACHE_REUSE = 256


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(cmd: list[str], base: str, name: str, ready_s: float = 120.0) -> Iterator[str]:
    """Run ``cmd`` until ``base`` answers ``/v1/models``; yield ``base/v1``; stop it afterwards. Its log goes to a
    file (a pipe nobody reads fills up and stalls a chatty server) and is shown if it fails to start."""
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + ready_s
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    why = f"exited with {proc.returncode}" if proc.poll() is not None else f"not ready in {ready_s:g} s"
                    raise RuntimeError(f"{name} {why}: {log.read()[-2000:]}")
                try:
                    if httpx2.get(base + "/v1/models", timeout=2, trust_env=False).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                time.sleep(0.3)
            yield base + "/v1"
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def llama_server_binary() -> str | None:
    """The llama-server binary ``NXS_LAB_LLAMA_SERVER`` names, if it is there and runnable."""
    binary = os.environ.get("NXS_LAB_LLAMA_SERVER", "")
    return binary if binary and os.access(binary, os.X_OK) else None


@contextlib.contextmanager
def llama_server(
    ctx: int,
    binary: str | None = None,
    threads: int = 2,
    extra: Sequence[str] = (),
    cache_reuse: int | None = CACHE_REUSE,
    port: int | None = None,
) -> Iterator[str]:
    """llama.cpp's own server with a runtime window of ``ctx`` (``-c``) and ``threads`` (``-t``) on loopback
    ``port`` (default: a free one), one slot, its
    prompt cache on (its default) with KV-chunk reuse (``--cache-reuse``, :data:`CACHE_REUSE`; ``None``: off, as
    llama-server starts by default), its counters at ``/metrics``, and ``extra`` arguments
    (``--chat-template-file …``); yields its base_url."""
    exe = binary or llama_server_binary()
    if exe is None:
        raise FileNotFoundError("no llama-server: bash scripts/build_llama_server.sh, then set NXS_LAB_LLAMA_SERVER")
    port = port or free_port()
    cmd = [exe, "-m", str(bundled_model_path()), "-c", str(ctx), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["-t", str(threads), "--parallel", "1", "--jinja", "--metrics", *extra]
    cmd += ["--cache-reuse", str(cache_reuse)] if cache_reuse else []
    with running(cmd, f"http://127.0.0.1:{port}", "llama-server") as url:
        yield url


@contextlib.contextmanager
def llama_router(models_dir: str, ctx: int, binary: str | None = None) -> Iterator[str]:
    """llama-server in router mode: every GGUF in ``models_dir`` served by one server, each loaded on first use in
    its own instance with a window of ``ctx``; yields its base_url."""
    exe = binary or llama_server_binary()
    if exe is None:
        raise FileNotFoundError("no llama-server: bash scripts/build_llama_server.sh, then set NXS_LAB_LLAMA_SERVER")
    port = free_port()
    cmd = [exe, "--models-dir", models_dir, "-c", str(ctx), "--host", "127.0.0.1", "--port", str(port), "-t", "1"]
    with running(cmd, f"http://127.0.0.1:{port}", "llama-server (router)") as url:
        yield url


@contextlib.contextmanager
def stock_llama_cpp_python(n_ctx: int, embedding: bool = True, chat_format: str | None = None) -> Iterator[str]:
    """``python -m llama_cpp.server`` as its users start it (it publishes no window; with ``embedding`` on, this
    model's embeddings come one vector per token); yields its base_url. ``chat_format`` as its ``--chat_format``
    (``"chatml-function-calling"``, as its users start it for tools, HTML-escapes every prompt); ``None``: the
    model's own template."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()), "--n_ctx", str(n_ctx)]
    cmd += ["--embedding", str(embedding).lower(), "--host", "127.0.0.1", "--port", str(port), "--n_threads", "2"]
    cmd += ["--chat_format", chat_format] if chat_format else []
    with running(cmd, f"http://127.0.0.1:{port}", "the stock llama-cpp-python server") as url:
        yield url


def llama_server_metrics(base_url: str) -> dict[str, float]:
    """llama-server's own counters (``/metrics``, Prometheus text): ``llamacpp:prompt_tokens_total`` (prompt tokens
    it evaluated), ``llamacpp:prompt_tokens_cached_total`` (reused from its cache), ``…prompt_seconds_total``, …"""
    text = httpx2.get(base_url.rsplit("/v1", 1)[0] + "/metrics", timeout=10, trust_env=False).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name and not name.startswith("#"):
            out[name] = float(value)
    return out
