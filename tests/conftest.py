"""Shared fixtures: one real embedded server for the session, and helpers for real sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx2
import pytest

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what needs llama.cpp, so ``-m "not server"`` runs every other test; browser tests last (they are
    the slowest, and Playwright's loop must not precede asyncio tests).

    A test needs the server when it uses the ``local_server`` fixture (directly or through ``provider``,
    ``embedded``, ``counter`` …), when it is a runbook cell (every runbook starts the embedded server), or when
    it says so itself (a test that starts its own ``LocalServer`` or loads the model).
    """
    for item in items:
        names = getattr(item, "fixturenames", ())
        if {"local_server", "llama_server", "stock_server"} & set(names) or item.nodeid.startswith("notebooks/"):
            item.add_marker(pytest.mark.server)
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def local_server() -> Iterator[nx.LocalServer]:
    """The real embedded server (llama-cpp-python + bundled SmolLM2) on 127.0.0.1, a free port."""
    srv = nx.LocalServer(n_ctx=2048)
    srv.start()
    yield srv
    srv.cleanup()


# llama.cpp's own server, started with a runtime window smaller than the model's trained 8,192.
LLAMA_SERVER_CTX = 1536


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """llama.cpp's own llama-server (built by scripts/build_llama_server.sh; ``NXS_LAB_LLAMA_SERVER`` names the
    binary) serving the bundled model on 127.0.0.1 with ``-c 1536``; yields its base_url."""
    binary = os.environ.get("NXS_LAB_LLAMA_SERVER", "")
    if not os.access(binary, os.X_OK):
        pytest.skip("llama-server is not built: bash scripts/build_llama_server.sh (scripts/test.sh does it)")
    port = _free_port()
    cmd = [
        binary,
        "-m",
        str(nx.bundled_model_path()),
        "-c",
        str(LLAMA_SERVER_CTX),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-t",
        "2",
        "--parallel",
        "1",
        "--jinja",
    ]
    yield from _serve_until_ready(cmd, f"http://127.0.0.1:{port}", "llama-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_until_ready(cmd: list[str], base: str, name: str) -> Iterator[str]:
    """Run a server process until it answers ``/v1/models``; yield its base_url; stop it afterwards. Its log goes
    to a file (a pipe nobody reads fills up and stalls a chatty server), shown if it fails to start."""
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    why = f"exited with {proc.returncode}" if proc.poll() is not None else "was not ready in 120 s"
                    raise RuntimeError(f"{name} {why}: {log.read()[-2000:]}")
                try:
                    if httpx2.get(base + "/v1/models", timeout=2).status_code == 200:
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


# A stock llama-cpp-python server (not the kit's launcher): it publishes no window, its embeddings are per token.
STOCK_CTX = 1024


@pytest.fixture(scope="session")
def stock_server() -> Iterator[str]:
    """``python -m llama_cpp.server`` as its users start it, the bundled model with ``n_ctx`` 1,024 (the model was
    trained with 8,192) and ``embedding`` on: nothing of the kit's in front of it. Yields its base_url."""
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(nx.bundled_model_path()),
        "--n_ctx",
        str(STOCK_CTX),
        "--embedding",
        "true",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        "2",
    ]
    yield from _serve_until_ready(cmd, f"http://127.0.0.1:{port}", "the stock llama-cpp-python server")


@pytest.fixture
def provider(local_server: nx.LocalServer) -> Iterator[nx.Provider]:
    p = local_server.provider()
    yield p
    p.close()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens: connecting is refused at once."""
    return FaultServer(Fault.REFUSE).start().base_url


@pytest.fixture
def blackhole_url() -> Iterator[str]:
    """A loopback port whose accept queue is full, so a new connect never completes (SYNs are dropped)."""
    with FaultServer(Fault.BLACKHOLE) as hole:
        yield hole.base_url
