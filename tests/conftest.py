"""Shared fixtures: one real embedded server for the session, helpers for real sockets, and jupyter-ai 3's venv."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer, foreign


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what needs llama.cpp, so ``-m "not server"`` runs every other test; browser tests last (they are
    the slowest, and Playwright's loop must not precede asyncio tests).

    A test needs the server when it uses the ``local_server`` fixture (directly or through ``provider``,
    ``embedded``, ``counter`` …), when it is a runbook cell (every runbook starts the embedded server), or when
    it says so itself (a test that starts its own ``LocalServer`` or loads the model).
    """
    for item in items:
        names = getattr(item, "fixturenames", ())
        runbook = item.nodeid.startswith(("nxs_lab/notebooks/", "tests/notebooks/"))
        if {"local_server", "llama_server", "llama_tools_server", "stock_server"} & set(names) or runbook:
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
    if foreign.llama_server_binary() is None:
        pytest.skip("llama-server is not built: bash scripts/build_llama_server.sh (scripts/test.sh does it)")
    with foreign.llama_server(LLAMA_SERVER_CTX) as url:
        yield url


@pytest.fixture(scope="session")
def llama_tools_server() -> Iterator[str]:
    """llama-server as above, with a chat template that renders tools (``tests/templates/chatml_tools.jinja``,
    ``--chat-template-file``): SmolLM2's own template has none, so its tools would cost nothing."""
    if foreign.llama_server_binary() is None:
        pytest.skip("llama-server is not built: bash scripts/build_llama_server.sh (scripts/test.sh does it)")
    template = Path(__file__).parent / "templates" / "chatml_tools.jinja"
    with foreign.llama_server(LLAMA_SERVER_CTX, extra=["--chat-template-file", str(template)]) as url:
        yield url


# A stock llama-cpp-python server (not the kit's launcher): it publishes no window, its embeddings are per token.
STOCK_CTX = 1024


@pytest.fixture(scope="session")
def stock_server() -> Iterator[str]:
    """``python -m llama_cpp.server`` as its users start it, the bundled model with ``n_ctx`` 1,024 (the model was
    trained with 8,192) and ``embedding`` on: nothing of the kit's in front of it. Yields its base_url."""
    with foreign.stock_llama_cpp_python(STOCK_CTX) as url:
        yield url


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


@pytest.fixture(scope="session")
def jupyter_ai3() -> str:
    """jupyter-ai 3's python, with this checkout installed into it (no dependencies: the venv has them)."""
    python = os.environ.get("NXS_LAB_JUPYTER_AI3")
    if not python:
        pytest.skip(
            "jupyter-ai 3 is not set up: NXS_LAB_JUPYTER_AI3=$(bash scripts/install_jupyter_ai3.sh | tail -n 1)"
        )
    install = [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--force-reinstall",
        str(Path(__file__).parent.parent),
    ]
    subprocess.run(install, check=True, capture_output=True, timeout=240)
    return python
