"""The kit against llama.cpp's own llama-server (a server it did not write), started with ``-c 1536`` on a model
trained with 8,192: discovery, the runtime window, chat, streams, exact counts, the overflow error, and budgets
that never overflow, alone and in a chain beside the embedded server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import nxs_lab as nx
from nxs_lab.discovery import discover
from nxs_lab.testing import foreign

from .chats import history
from .conftest import LLAMA_SERVER_CTX

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def server(llama_server: str) -> Iterator[nx.Provider]:
    p = nx.Provider(name="llama-server", base_url=llama_server)
    yield p
    p.close()


def test_it_is_found_and_its_runtime_window_read(llama_server: str, server: nx.Provider) -> None:
    port = int(llama_server.rsplit(":", 1)[1].split("/")[0])
    (ep,) = [e for e in discover(["127.0.0.1"], ports=[port], progress=False)]
    assert ep.kind == "llama.cpp" and ep.models and ep.models[0].context_window == LLAMA_SERVER_CTX
    assert server.server_kind == "llama.cpp"
    assert server.context_window_info() == (LLAMA_SERVER_CTX, "server:llama.cpp")
    assert server.supports_tools() is False  # /props chat_template_caps: SmolLM2's template has no tool calls


def test_chat_stream_and_exact_text_counts(server: nx.Provider) -> None:
    r = server.chat([{"role": "user", "content": "Say hi"}], max_tokens=8)
    assert r.provider == "llama-server" and r.finish_reason in ("stop", "length") and r.usage.completion_tokens
    s = server.stream([{"role": "user", "content": "Count to three"}], max_tokens=8)
    deltas = list(s)
    assert deltas and s.result is not None and "".join(deltas) == s.result.text and s.result.ttft_s is not None
    assert server.count_tokens("hello world, hello rivers") == server.count_tokens("hello world, hello rivers") > 0


def test_an_unfitted_history_is_refused_with_the_numbers(server: nx.Provider) -> None:
    with pytest.raises(nx.ContextOverflow) as err:
        server.chat(history(400), max_tokens=32)
    assert err.value.context_window == LLAMA_SERVER_CTX and err.value.prompt_tokens > LLAMA_SERVER_CTX


def test_the_default_guard_fits_a_history_three_times_the_window(server: nx.Provider) -> None:
    """The case that used to send 1,636 tokens into 1,536, with nothing asked of the guard: the final count is the
    server's own (its template, its tokenizer), so what was sent is exactly what the server counted."""
    msgs = history(400)
    guard = nx.ContextGuard(server)
    assert guard.counter.count_messages(msgs).tokens > 3 * LLAMA_SERVER_CTX
    r = guard.chat(msgs, max_tokens=32)
    assert r.dropped_messages > 0 and r.usage.prompt_tokens + 32 <= LLAMA_SERVER_CTX
    assert r.prompt_tokens_sent == r.usage.prompt_tokens and not r.prompt_truncated


def test_whole_chats_are_counted_through_its_own_template(server: nx.Provider) -> None:
    """/apply-template then /tokenize: exact for any template (SmolLM2's adds a system prompt when there is none),
    and the per-message overhead is measured through it with no generation."""
    counter = nx.counter_for(server)
    assert isinstance(counter, nx.ServerCounter) and counter.applies_template
    assert counter.overhead.source == "measured" and counter.overhead.implicit_system > 0
    for chat in (history(2), [{"role": "user", "content": "Name one river."}], history(5)[1:]):
        count = counter.count_chat(chat)
        assert count.exact and count.method is nx.CountMethod.SERVER_TEMPLATE
        assert count.tokens == server.chat(chat, max_tokens=1).usage.prompt_tokens
        assert counter.count_messages(chat).tokens == count.tokens  # the measured overhead agrees


def test_a_chain_over_two_windows_fits_each(server: nx.Provider, local_server: nx.LocalServer) -> None:
    msgs = history(400)
    embedded = local_server.provider(name="embedded")
    for order in ([server, embedded], [embedded, server]):
        r = nx.FallbackChain(order, fit=True).chat(msgs, max_tokens=32)
        assert r.provider == order[0].name and [a.provider for a in r.attempts] == [order[0].name]
        assert r.dropped_messages > 0 and not r.prompt_truncated


@pytest.mark.server
def test_router_mode_lists_each_model_with_its_own_load_state_and_window(tmp_path) -> None:
    """llama-server's router (``--models-dir``): one server, several models, each loaded or not, each with its
    window; counting and chat pick the model's own instance."""
    if foreign.llama_server_binary() is None:
        pytest.skip("llama-server is not built: bash scripts/build_llama_server.sh")
    for name in ("smol-a", "smol-b"):
        (tmp_path / f"{name}.gguf").symlink_to(nx.bundled_model_path())
    with foreign.llama_router(str(tmp_path), 1024) as url, nx.Provider(name="router", base_url=url) as p:
        before = {m.id: (m.loaded, m.context_window) for m in p.list_models()}
        assert before == {"smol-a": (nx.LoadState.NOT_LOADED, 1024), "smol-b": (nx.LoadState.NOT_LOADED, 1024)}
        r = nx.ContextGuard(p).chat([{"role": "user", "content": "Say hi."}], model="smol-a", max_tokens=4)
        assert r.usage.prompt_tokens == r.prompt_tokens_sent  # counted by smol-a's own instance, exactly
        after = {m.id: m.loaded for m in p.list_models(refresh=True)}
        assert after == {"smol-a": nx.LoadState.LOADED, "smol-b": nx.LoadState.NOT_LOADED}
        assert p.context_window_info("smol-a") == (1024, "server:llama.cpp")
