"""Long conversations past the window: the cache-stable fit keeps the prompt's beginning unchanged between cuts, so
the server reuses it (by llama-server's own counters), and every answer says how much of its prompt was reused."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

import nxs_lab as nx
from nxs_lab.evaluation import shipped_tasks
from nxs_lab.evaluation.run import cost
from nxs_lab.testing import foreign
from nxs_lab.testing.faults import Fault, FaultServer
from nxs_lab.ui.chat import ChatPanel

from .conftest import LLAMA_SERVER_CTX

SYSTEM = {"role": "system", "content": "You are a patient assistant who discusses rivers."}


def user(i: int) -> dict:
    return {"role": "user", "content": f"Question {i}: tell me about river number {i}, its length and its cities. " * 3}


def reply(i: int) -> dict:
    return {"role": "assistant", "content": f"Answer {i}: river {i} is long and has cities along it."}


def chat_of(turns: int) -> list[dict]:
    """A history of ``turns`` answered turns and one question waiting."""
    msgs = [SYSTEM]
    for i in range(turns):
        msgs += [user(i), reply(i)]
    return msgs + [user(turns)]


def _earlier(fit: nx.FitResult) -> list:
    """What was sent before the latest question: the prefix a server can have cached."""
    return fit.messages[:-1]


# ------------------------------------------------------------------ the fit itself (a counter with no server)


def test_past_the_window_the_stable_fit_only_appends_between_cuts() -> None:
    counter, budget = nx.EstimateCounter(), nx.ContextBudget(1024, 64)
    stable = [budget.fit(chat_of(n), counter) for n in range(4, 60)]
    minimal = [budget.fit(chat_of(n), counter, cut="minimal") for n in range(4, 60)]

    def changed_prefixes(fits: list[nx.FitResult]) -> int:
        """Turns whose sent prompt does not begin with the previous turn's whole prompt."""
        return sum(1 for a, b in itertools.pairwise(fits) if b.messages[: len(_earlier(a))] != _earlier(a))

    assert all(f.count.upper <= budget.max_input_tokens for f in stable)  # never an overflow
    cut = [f for f in stable if f.dropped]
    assert len(cut) > 30  # most of the chat is past the window
    assert changed_prefixes(minimal) >= len(cut) - 1  # dropping just enough changes the prefix every turn
    assert changed_prefixes(stable) <= len(cut) / 4  # the stable fit only at its cuts
    for f in stable:  # what the fit promised before still holds
        assert f.messages[0] == SYSTEM and f.messages[-1]["role"] == "user"
        assert f.messages[1]["role"] == "user"  # whole turns: a kept turn starts with its question
    kept = lambda fits: sum(len(f.messages) for f in fits) / len(fits)  # noqa: E731
    assert kept(stable) < kept(minimal)  # the trade: less history on average, for a prompt the server reuses


def test_a_stable_cut_keeps_tool_calls_with_their_results() -> None:
    call = {"role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{}"}}]}  # fmt: skip
    msgs = [SYSTEM]
    for i in range(30):
        msgs += [user(i), call, {"role": "tool", "tool_call_id": "c1", "content": "found " * 30}, reply(i)]
    msgs.append(user(30))
    for window in range(700, 2400, 131):
        fit = nx.ContextBudget(window, 64).fit(msgs, nx.EstimateCounter())
        for i, m in enumerate(fit.messages):
            if m.get("tool_calls"):
                assert fit.messages[i + 1]["role"] == "tool"
            if m["role"] == "tool":
                assert fit.messages[i - 1].get("tool_calls")


def test_the_same_history_is_cut_the_same_way_in_another_process() -> None:
    history = chat_of(40)
    code = (
        "import json, sys\n"
        "import nxs_lab as nx\n"
        "fit = nx.ContextBudget(1024, 64).fit(json.loads(sys.stdin.read()), nx.EstimateCounter())\n"
        "print(json.dumps(fit.messages))\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], input=json.dumps(history), capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    here = nx.ContextBudget(1024, 64).fit(history, nx.EstimateCounter())
    assert len(here.dropped) > 0
    assert json.loads(runs[0]) == json.loads(runs[1]) == here.messages


def test_a_summary_stays_the_same_until_the_next_cut() -> None:
    calls: list[int] = []

    def summarizer(dropped: list) -> str:
        calls.append(len(dropped))
        return f"{len(dropped)} earlier messages about rivers (summary {len(calls)})."

    guard_memo: dict[str, str] = {}
    counter, budget = nx.EstimateCounter(), nx.ContextBudget(1024, 64)
    fits = [
        budget.fit(chat_of(n), counter, strategy="summarize", summarizer=summarizer, summaries=guard_memo)
        for n in range(6, 40)
    ]
    summaries = [f.messages[1]["content"] for f in fits if f.summarized]
    assert len(summaries) > 20
    assert len(calls) == len(set(summaries)) <= len(summaries) / 4  # written once per cut, then kept byte for byte
    for a, b in itertools.pairwise(fits):
        if a.summarized and b.summarized and a.messages[1] == b.messages[1]:
            assert b.messages[: len(_earlier(a))] == _earlier(a)  # an unchanged summary: the turns only appended


def test_a_wrong_cut_or_low_water_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="cut must be one of 'stable', 'minimal', got 'rolling'"):
        nx.ContextBudget(1024, 64).fit(chat_of(3), nx.EstimateCounter(), cut="rolling")
    with pytest.raises(ValueError, match=r"low_water must be at least 0 and below 1, got 1\.5"):
        nx.ContextBudget(1024, 64).fit(chat_of(3), nx.EstimateCounter(), low_water=1.5)
    with FaultServer(Fault.OK) as ok:
        with pytest.raises(ValueError, match="cut must be one of"):
            nx.ContextGuard(nx.Provider(name="p", base_url=ok.base_url, model="m"), cut="rolling")


# ------------------------------------------------------------------ what the server reused


@pytest.mark.parametrize(
    ("usage", "timings", "cached"),
    [
        ({"prompt_tokens": 40, "prompt_tokens_details": {"cached_tokens": 32}}, None, 32),  # OpenAI, vLLM
        ({"prompt_tokens": 40, "cached_tokens": 24}, None, 24),  # Moonshot
        ({"input_tokens": 40, "input_tokens_details": {"cached_tokens": 8}}, None, 8),  # the Responses API
        ({"prompt_tokens": 40}, {"cache_n": 31, "prompt_n": 9}, 31),  # llama-server's timings
        ({"prompt_tokens": 40}, None, None),  # a server that does not say
        (None, None, None),
    ],
)
def test_every_way_servers_say_what_they_reused(usage: dict | None, timings: dict | None, cached: int | None) -> None:
    assert nx.Usage.from_sdk(usage, timings).cached_tokens == cached


def test_llama_server_says_what_it_reused_chat_and_stream(llama_server: str) -> None:
    p = nx.Provider(name="llama", base_url=llama_server)
    msgs = chat_of(4)
    p.chat(msgs, max_tokens=2)  # the server now holds this prompt
    again = p.chat(msgs, max_tokens=2)
    assert again.usage.prompt_tokens is not None and again.cached_tokens is not None
    assert again.usage.prompt_tokens * 0.9 <= again.cached_tokens <= again.usage.prompt_tokens
    assert (
        "prompt tokens cached" in " · ".join(again.trail()) and again.as_row()["cached_tokens"] == again.cached_tokens
    )
    footer = ChatPanel._describe(again)  # what the chat panel shows under the answer
    assert f"{again.cached_tokens:,} of {again.usage.prompt_tokens:,} prompt tokens from the server's cache" in footer
    stream = p.stream(msgs, max_tokens=2)
    for _ in stream:
        pass
    assert stream.result is not None and stream.result.cached_tokens == again.cached_tokens
    assert p.server_kind == "llama.cpp"
    other = p.chat([{"role": "user", "content": "A different question altogether."}], max_tokens=2)
    assert other.cached_tokens is not None and other.cached_tokens < again.cached_tokens
    p.close()


def test_requests_to_llama_server_ask_for_its_prompt_cache() -> None:
    """The kind is known once probed; from then on every chat and completion says ``cache_prompt: true``."""
    p = nx.Provider(name="p", base_url="http://127.0.0.1:9/v1", model="m")
    assert "extra_body" not in p._chat_kwargs([{"role": "user", "content": "hi"}], "m", {})
    from nxs_lab.servers.llamacpp import LlamaCpp

    p.catalog._server = LlamaCpp()  # as the probe leaves it
    kw = p._chat_kwargs([{"role": "user", "content": "hi"}], "m", {"extra_body": {"n_probs": 2}})
    assert kw["extra_body"] == {"cache_prompt": True, "n_probs": 2}
    p.close()


def test_the_embedded_server_counts_what_its_prompts_reused(local_server: nx.LocalServer) -> None:
    p = local_server.provider()
    msgs = chat_of(3)
    before = local_server.prompt_counters()[local_server.chat_alias]
    first = p.chat(msgs, max_tokens=2)
    p.chat(msgs, max_tokens=2)
    after = local_server.prompt_counters()[local_server.chat_alias]
    assert first.usage.prompt_tokens is not None
    assert after["prompt_tokens_total"] - before["prompt_tokens_total"] == 2 * first.usage.prompt_tokens
    reused = after["prompt_tokens_cached_total"] - before["prompt_tokens_cached_total"]
    assert reused >= first.usage.prompt_tokens - 1  # the second call evaluated at most its last token
    assert first.cached_tokens is None  # llama-cpp-python's replies do not say: None, not a guess


def test_evaluate_prices_cached_input_apart_and_shows_it(llama_server: str) -> None:
    p = nx.Provider(name="llama", base_url=llama_server)
    ev = nx.evaluate([p], shipped_tasks(["arithmetic"])[:2], repetitions=2, max_tokens=4, concurrency=1,
                     prices={"llama": (2.0, 8.0, 0.5)}, progress=False)  # fmt: skip
    rows = ev.records
    assert all(r["ok"] for r in rows) and any((r["cached_tokens"] or 0) > 0 for r in rows)
    for r in rows:
        fresh = r["prompt_tokens"] - r["cached_tokens"]
        assert r["cost"] == pytest.approx((fresh * 2.0 + r["cached_tokens"] * 0.5 + r["completion_tokens"] * 8.0) / 1e6)
    assert "of them cached" in ev.summary().columns
    assert cost((2.0, 8.0), 100, 60, 10) == pytest.approx((100 * 2.0 + 10 * 8.0) / 1e6)  # no cached price: full rate
    with pytest.raises(ValueError, match=r"prices\['llama'\]: a price is \(prompt, completion\)"):
        nx.evaluate([p], shipped_tasks(["arithmetic"])[:1], prices={"llama": (1.0,)}, progress=False)
    p.close()


# ------------------------------------------------------------------ a long chat against llama-server's counters


@pytest.fixture(scope="module")
def plain_llama() -> Iterator[str]:
    """llama-server as it starts by default: prompt cache on, no KV-chunk reuse (``--cache-reuse`` off), so what
    the server reuses is what the kit's fit keeps in place (the suite's own server runs with reuse on)."""
    if foreign.llama_server_binary() is None:
        pytest.skip("llama-server is not built: bash scripts/build_llama_server.sh")
    with foreign.llama_server(LLAMA_SERVER_CTX, cache_reuse=None) as url:
        yield url


TURNS_BEFORE, TURNS_MEASURED = 22, 8


def _evaluated_share(base_url: str, send, turns: int = TURNS_MEASURED) -> tuple[float, list[nx.ChatResult]]:
    """A chat already past the window, continued for ``turns`` turns: the prompt tokens llama-server evaluated
    (its own counter) as a share of those sent, after the first request (which evaluates everything)."""
    results = []
    for n in range(TURNS_BEFORE, TURNS_BEFORE + turns + 1):
        if n == TURNS_BEFORE + 1:
            start = foreign.llama_server_metrics(base_url)
        results.append(send(chat_of(n)))
    end = foreign.llama_server_metrics(base_url)
    evaluated = end["llamacpp:prompt_tokens_total"] - start["llamacpp:prompt_tokens_total"]
    cached = end["llamacpp:prompt_tokens_cached_total"] - start["llamacpp:prompt_tokens_cached_total"]
    assert all(r.dropped_messages > 0 for r in results)  # past the window throughout
    return evaluated / (evaluated + cached), results


@pytest.mark.server
def test_a_long_chat_past_llama_servers_window_is_mostly_served_from_its_cache(plain_llama: str) -> None:
    p = nx.Provider(name="llama", base_url=plain_llama)
    stable, results = _evaluated_share(plain_llama, lambda m: nx.ContextGuard(p).chat(m, max_tokens=4))
    minimal, _ = _evaluated_share(plain_llama, lambda m: nx.ContextGuard(p, cut="minimal").chat(m, max_tokens=4), 3)
    # dropping just enough: the server evaluates most of every prompt again, every turn it must drop one
    assert minimal > 0.55
    assert stable < 0.45 and stable < minimal / 2
    assert all(r.prompt_tokens_sent == r.usage.prompt_tokens for r in results)  # exact counts still
    assert sum((r.cached_tokens or 0) > 0.7 * (r.usage.prompt_tokens or 1) for r in results[1:]) >= TURNS_MEASURED / 2
    p.close()


@pytest.mark.server
def test_the_async_guard_and_a_chain_of_two_windows_keep_the_prefix_too(plain_llama: str) -> None:
    llama_server = plain_llama
    p = nx.Provider(name="llama", base_url=llama_server)

    async def run() -> float:
        loop = asyncio.get_running_loop()
        async with nx.AsyncProvider(name="llama", base_url=llama_server) as ap:
            guard = nx.AsyncContextGuard(ap)
            send = lambda m: asyncio.run_coroutine_threadsafe(guard.chat(m, max_tokens=4), loop).result()  # noqa: E731
            share, _ = await asyncio.to_thread(_evaluated_share, llama_server, send)
            return share

    share = asyncio.run(run())
    assert share < 0.45
    with FaultServer(Fault.REFUSE) as dead:  # a larger window first, down: the smaller one answers every turn
        big = nx.Provider(name="big", base_url=dead.base_url, model="m", context_window=8192)
        small = nx.Provider(name="small", base_url=llama_server, context_window=1024)
        chain = nx.FallbackChain([big, small], fit=True)
        share, results = _evaluated_share(llama_server, lambda m: chain.chat(m, max_tokens=4))
    assert share < 0.45 and {r.provider for r in results} == {"small"}
    p.close()
