"""The sync and async providers are two halves over one base: the same scenario through each must end the same way.

Each scenario is a real loopback server (a stand-in for a server kind, or a fault); each is run through a fresh
``Provider`` and a fresh ``AsyncProvider`` (no shared cache), and every observable outcome is compared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import nxs_lab as nx
from nxs_lab.config import Timeouts
from nxs_lab.testing import Fault, FaultServer

from .standins import LLAMACPP, LMSTUDIO, LMSTUDIO_V1, OLLAMA, VLLM

pytestmark = pytest.mark.timeout(60)

SHORT = Timeouts(connect=0.5, first_byte=2.0, idle=2.0)
USER = [{"role": "user", "content": "hi"}]

# name -> (FaultServer settings, provider settings)
SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "lmstudio": ({"routes": LMSTUDIO}, {}),
    "lmstudio-v1": ({"routes": LMSTUDIO_V1}, {}),
    "ollama": ({"routes": OLLAMA}, {}),
    "llama.cpp": ({"routes": LLAMACPP}, {}),
    "vllm": ({"routes": VLLM}, {}),
    "generic": ({}, {}),
    "configured-window": ({"routes": LLAMACPP}, {"context_window": 1000}),
    "allowlist-refuses": ({"routes": LMSTUDIO}, {"model": "other", "allowed_models": ["qwen2.5-7b-instruct"]}),
    "allowlist-picks": ({"routes": LMSTUDIO}, {"allowed_models": ["text-embedding-nomic-embed-text-v1.5"]}),
    "server-error": ({"mode": Fault.STATUS, "status": 500, "routes": VLLM}, {}),
    "needs-auth": ({"mode": Fault.STATUS, "status": 401}, {"model": "m"}),
    "malformed": ({"mode": Fault.MALFORMED_JSON, "routes": VLLM}, {}),
}


def _outcome(fn: Any) -> Any:
    """What a call came to: its value, or the error's type (messages may differ in wording, not in kind)."""
    try:
        return ("ok", fn())
    except nx.NxsLabError as exc:
        return ("error", type(exc).__name__)


async def _aoutcome(coro_fn: Any) -> Any:
    try:
        return ("ok", await coro_fn())
    except nx.NxsLabError as exc:
        return ("error", type(exc).__name__)


def _chat_shape(r: nx.ChatResult) -> tuple[Any, ...]:
    return (r.model, r.finish_reason, r.usage.prompt_tokens, bool(r.text))


def sync_run(url: str, kw: dict[str, Any]) -> dict[str, Any]:
    with nx.Provider(name="p", base_url=url, timeouts=SHORT, **kw) as p:
        out = {
            "kind": _outcome(lambda: p.server_kind),
            "models": _outcome(lambda: [(m.id, m.kind, m.loaded, m.context_window) for m in p.list_models()]),
            "model": _outcome(p.resolve_model),
            "window": _outcome(p.context_window_info),
            "tokens": _outcome(lambda: p.count_tokens("hello world")),
            "chat": _outcome(lambda: _chat_shape(p.chat(USER, max_tokens=4))),
            "stream": _outcome(lambda: _chat_shape(_drain(p.stream(USER, max_tokens=4)))),
            "embed": _outcome(lambda: len(p.embed(["a", "b"]))),
        }
        out["health"] = p.health().ok
    return out


async def async_run(url: str, kw: dict[str, Any]) -> dict[str, Any]:
    async with nx.AsyncProvider(name="p", base_url=url, timeouts=SHORT, **kw) as p:

        async def kind() -> str:
            await asyncio.to_thread(lambda: p.catalog.server)
            return p.server_kind

        async def models() -> list[Any]:
            return [(m.id, m.kind, m.loaded, m.context_window) for m in await p.list_models()]

        async def chat() -> Any:
            return _chat_shape(await p.chat(USER, max_tokens=4))

        async def stream() -> Any:
            s = await p.stream(USER, max_tokens=4)
            async for _ in s:
                pass
            assert s.result is not None
            return _chat_shape(s.result)

        async def embed() -> int:
            return len(await p.embed(["a", "b"]))

        out = {
            "kind": await _aoutcome(kind),
            "models": await _aoutcome(models),
            "model": await _aoutcome(p.resolve_model),
            "window": await _aoutcome(p.context_window_info),
            "tokens": await _aoutcome(lambda: p.count_tokens("hello world")),
            "chat": await _aoutcome(chat),
            "stream": await _aoutcome(stream),
            "embed": await _aoutcome(embed),
        }
        out["health"] = (await p.health()).ok
    return out


def _drain(s: nx.ChatStream) -> nx.ChatResult:
    for _ in s:
        pass
    assert s.result is not None
    return s.result


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, dict[str, Any]]]:
    server_kw, provider_kw = SCENARIOS[request.param]
    with FaultServer(**server_kw) as srv:
        yield request.param, srv.base_url, provider_kw


def test_sync_and_async_agree(scenario: tuple[str, str, dict[str, Any]]) -> None:
    name, url, kw = scenario
    sync = sync_run(url, kw)
    aio = asyncio.run(async_run(url, kw))
    assert sync == aio, name
    # the table must exercise real outcomes, not errors everywhere
    if name in ("lmstudio", "lmstudio-v1", "ollama", "llama.cpp", "vllm", "generic"):
        assert sync["chat"][0] == "ok" and sync["health"] is True


@pytest.mark.parametrize(
    ("routes", "vlm", "text"),
    [(LMSTUDIO, "gemma-3-4b-it", "qwen2.5-7b-instruct"), (LMSTUDIO_V1, "google/gemma-3-4b", "qwen/qwen3-8b")],
    ids=["v0", "v1"],
)
def test_detection_prefers_a_loaded_vision_model(routes: dict[str, Any], vlm: str, text: str) -> None:
    """An unloaded text model listed first, a loaded vision-language model after it: the loaded one is picked (a 4 GB
    box must not load a second model), with the window it runs with; the unloaded one is limited against the
    length LM Studio would load it with, not its trained maximum."""
    with FaultServer(routes=routes) as srv, nx.Provider(name="p", base_url=srv.base_url, timeouts=SHORT) as p:
        assert p.resolve_model() == vlm
        assert p.context_window_info() == (8192, "server:lmstudio")
        models = {m.id: m for m in p.list_models()}
        assert models[vlm].kind is nx.ModelKind.VLM and models[vlm].loaded is nx.LoadState.LOADED
        assert models[text].loaded is nx.LoadState.NOT_LOADED and models[text].context_window == 4096
        assert models[text].extra["window_source"] == "lmstudio default load length"
        assert models[text].extra["api"] == ("v1" if routes is LMSTUDIO_V1 else "v0")


def test_async_twin_shares_the_catalogue() -> None:
    with FaultServer(routes=LMSTUDIO) as srv:
        p = nx.Provider(name="p", base_url=srv.base_url, timeouts=SHORT)
        ap = p.to_async()
        assert ap.catalog is p.catalog and ap.config is p.config
        assert p.detect_model() == asyncio.run(ap.detect_model()) == "gemma-3-4b-it"
        asyncio.run(ap.aclose())
        assert p.list_models()  # closing the twin leaves the owner usable
        p.close()
