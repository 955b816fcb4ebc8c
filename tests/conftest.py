"""Shared fixtures: one real embedded server for the session, and helpers for real sockets."""

from __future__ import annotations

import os
import socket
import subprocess
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
        if "local_server" in names or "llama_server" in names or item.nodeid.startswith("notebooks/"):
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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {proc.returncode}: {(proc.stderr.read() or '')[-2000:]}")
            try:
                if httpx2.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama-server did not become ready within 120 s")
            time.sleep(0.3)
        yield base + "/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
