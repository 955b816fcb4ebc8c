"""What today's servers send, read the way they mean it: a reasoning model's thinking in each of its three shapes
(kept apart from the answer, in replies, streams and chains), Ollama's silent truncation flagged on a plain call,
per-token embeddings pooled. Each server is a real loopback stand-in answering in the shapes its documentation
gives (the fault kit's ``reasoning=``, ``fingerprint=``, ``per_token_embeddings=`` options)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nxs_lab as nx
from nxs_lab.client.reasoning import ThinkSplitter, settle_thinking, split_thinking
from nxs_lab.servers.ollama import Ollama
from nxs_lab.testing import Fault, FaultServer
from nxs_lab.testing.replies import THOUGHT

from .chats import history
from .standins import OLLAMA, VLLM

pytestmark = pytest.mark.timeout(60)

USER = [{"role": "user", "content": "hi"}]
SHAPES = ["reasoning_content", "reasoning", "think"]
ANSWER = "one two three four five six "  # what the fault kit's streams send as the answer


def _provider(srv: FaultServer, **kw: Any) -> nx.Provider:
    return nx.Provider(name="p", base_url=srv.base_url, model="stub-model", **kw)


# ------------------------------------------------------------------------------ reasoning


@pytest.mark.parametrize("shape", SHAPES)
def test_a_reply_keeps_thinking_apart_from_the_answer(shape: str) -> None:
    with FaultServer(reasoning=shape) as srv, _provider(srv) as p:
        r = p.chat(USER)
    assert r.text == "stub answer"
    assert r.reasoning.strip() == (THOUGHT * 2).strip()
    assert "<think>" not in r.text and r.usage.reasoning_tokens == 12
    assert r.as_row()["reasoning"] == r.reasoning


@pytest.mark.parametrize("shape", SHAPES)
def test_a_stream_yields_thinking_deltas_apart_from_the_answer(shape: str) -> None:
    with FaultServer(reasoning=shape) as srv, _provider(srv) as p:
        deltas = list(p.stream(USER).deltas())
        plain = p.stream(USER)
        answer_only = list(plain)
    thinking = "".join(d.text for d in deltas if d.reasoning)
    assert thinking == (THOUGHT if shape == "think" else THOUGHT * 2)
    assert "".join(d.text for d in deltas if not d.reasoning) == ANSWER
    assert all("<think>" not in d.text and "</think>" not in d.text for d in deltas)
    assert deltas[0].reasoning  # the thinking comes first, and shows as it arrives
    assert "".join(answer_only) == ANSWER and plain.result is not None
    assert plain.result.text == ANSWER and plain.result.reasoning == thinking
    assert plain.result.usage.reasoning_tokens == 12


def test_a_broken_stream_keeps_the_thinking_and_the_text_so_far() -> None:
    with FaultServer(Fault.SSE_CUT, reasoning="reasoning_content", cut_after=2) as srv, _provider(srv) as p:
        s = p.stream(USER)
        with pytest.raises(nx.StreamInterrupted) as err:
            s.collect()
    assert err.value.partial_reasoning == THOUGHT * 2 and err.value.partial_text == "one two "


def test_async_streams_and_chains_carry_thinking_too() -> None:
    async def run(url: str) -> tuple[list[Any], nx.ChatResult]:
        async with nx.AsyncProvider(name="p", base_url=url, model="stub-model") as ap:
            s = await ap.stream(USER)
            return [d async for d in s.deltas()], await ap.chat(USER)

    with FaultServer(reasoning="reasoning") as srv:
        deltas, reply = asyncio.run(run(srv.base_url))
        chain = nx.FallbackChain([_provider(srv)])
        cs = chain.stream(USER)
        chain_deltas = list(cs.deltas())
    assert [d.reasoning for d in deltas][:2] == [True, True] and reply.reasoning == THOUGHT * 2
    assert "".join(d.text for d in chain_deltas if d.reasoning) == THOUGHT * 2
    assert cs.result is not None and cs.result.text == ANSWER and cs.result.reasoning == THOUGHT * 2


@given(st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=40))
def test_inline_thinking_splits_the_same_however_the_stream_is_cut(cuts: list[int]) -> None:
    """A ``<think>`` block cut into any pieces (tags split across deltas included) gives the same thinking and
    answer as the whole text does."""
    text = "  <think>weigh the options </think>\n\nThe answer is <b>42</b>."
    pieces, i = [], 0
    for n in cuts:
        if i >= len(text):
            break
        pieces.append(text[i : i + n])
        i += n
    pieces.append(text[i:])
    splitter = ThinkSplitter()
    out = [d for piece in pieces for d in splitter.feed(piece)] + splitter.flush()
    thinking = "".join(d.text for d in out if d.reasoning)
    answer = "".join(d.text for d in out if not d.reasoning)
    assert (thinking.strip(), answer) == split_thinking(text) == ("weigh the options", "The answer is <b>42</b>.")


@given(st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=40))
def test_thinking_a_template_opened_splits_the_same_however_the_stream_is_cut(cuts: list[int]) -> None:
    text = "weigh the options </think>\n\nThe answer is <b>42</b>."
    pieces, i = [], 0
    for n in cuts:
        pieces.append(text[i : i + n])
        i += n
    pieces.append(text[i:])
    splitter = ThinkSplitter(opened=True)
    out = [d for piece in pieces if piece for d in splitter.feed(piece)] + splitter.flush()
    thinking = "".join(d.text for d in out if d.reasoning)
    answer = "".join(d.text for d in out if not d.reasoning)
    assert (thinking.strip(), answer) == split_thinking(text) == ("weigh the options", "The answer is <b>42</b>.")


def test_thinking_a_template_opened_is_split_and_the_model_remembered() -> None:
    """Qwen3's and DeepSeek-R1's templates open ``<think>`` in the prompt, so the answer holds only ``…</think>``.
    A reply is split at once. The first stream cannot know until the tag goes by: its thinking streams as answer,
    and its result is put right; the provider remembers the model, and its next stream splits as it arrives."""
    with FaultServer(reasoning="opened") as srv, _provider(srv) as p:
        reply = p.chat(USER)
        first = p.stream(USER)
        first_deltas = list(first.deltas())
        second = p.stream(USER)
        second_deltas = list(second.deltas())
    assert (reply.reasoning, reply.text) == ((THOUGHT * 2).strip(), "stub answer")
    assert not any(d.reasoning for d in first_deltas)  # seen as answer while it streamed
    assert first.result is not None and (first.result.reasoning, first.result.text) == (THOUGHT.strip(), ANSWER)
    assert second_deltas[0].reasoning and all("</think>" not in d.text for d in second_deltas)
    assert "".join(d.text for d in second_deltas if d.reasoning) == THOUGHT
    assert "".join(d.text for d in second_deltas if not d.reasoning) == ANSWER
    assert second.result is not None and (second.result.reasoning, second.result.text) == (THOUGHT, ANSWER)


def test_a_model_known_to_think_that_answers_without_thinking_keeps_its_answer() -> None:
    """A template that opened the block may close it in the prompt too (Qwen3's /no_think): then no ``</think>``
    comes, and what streamed as thinking was the answer; out of tokens while thinking, it stays thinking."""
    with FaultServer() as srv, _provider(srv) as p:
        p.catalog.thinking_opened.add("stub-model")
        s = p.stream(USER)
        answer_deltas = list(s)
    assert answer_deltas == [] and s.result is not None  # it could not show as answer while it streamed
    assert (s.result.reasoning, s.result.text) == ("", ANSWER)
    assert settle_thinking("still weighing", "", opened=True, finish_reason="length") == ("still weighing", "")


# Go templates in the shape Ollama's library gives them (ollama.com/library/qwen3, deepseek-r1: "template" of
# /api/show): one whose generation prompt opens the block, and Qwen3's, which closes it at once when thinking is off.
OPENING = "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n<think>\n{{- end }}"
CLOSING = "{{- if and $.IsThinkSet (not $.Think) }}<think>\n\n</think>\n\n{{ end }}{{ .Response }}"


def test_an_ollama_template_that_opens_thinking_is_known_before_the_first_stream() -> None:
    routes = {**OLLAMA, "/api/show": {**OLLAMA["/api/show"], "template": OPENING}}
    with FaultServer(routes=routes, reasoning="opened") as srv:
        with nx.Provider(name="ollama", base_url=srv.base_url) as p:
            stream = p.stream(USER)
            deltas = list(stream.deltas())
            assert p.server_kind == "ollama" and p.resolve_model() in p.catalog.thinking_opened
    assert deltas[0].reasoning and all("</think>" not in d.text for d in deltas)
    assert "".join(d.text for d in deltas if d.reasoning) == THOUGHT
    assert "".join(d.text for d in deltas if not d.reasoning) == ANSWER


@pytest.mark.parametrize(
    ("template", "capabilities", "expected"),
    [
        (OPENING, ["completion"], True),
        (CLOSING, ["completion"], False),
        ("{{ .Prompt }}", ["completion"], False),
        (OPENING, ["completion", "thinking"], False),  # Ollama parses the thinking out itself
    ],
)
def test_ollama_says_whether_a_template_opens_thinking(template: str, capabilities: list[str], expected: bool) -> None:
    routes = {**OLLAMA, "/api/show": {**OLLAMA["/api/show"], "template": template, "capabilities": capabilities}}
    with FaultServer(routes=routes) as srv, nx.Provider(name="ollama", base_url=srv.base_url) as p:
        assert p.server_kind == "ollama"
        assert Ollama().opens_thinking(p.catalog.http, "llama3.2:3b") is expected


def test_inline_thinking_edge_cases() -> None:
    assert split_thinking("no thinking here") == ("", "no thinking here")
    assert split_thinking("<think>ran out of tokens while thinking") == ("ran out of tokens while thinking", "")
    assert split_thinking("the template opened it</think>Paris.") == ("the template opened it", "Paris.")
    s = ThinkSplitter()
    assert [d.text for d in s.feed("Plain answer")] == ["Plain answer"]  # no tag: passes through at once


# --------------------------------------------------------------------------- Ollama truncation


def test_ollama_truncation_is_flagged_on_a_plain_chat_and_stream() -> None:
    """Ollama's /v1 cuts an over-long prompt to its num_ctx and answers 200; its replies say who it is
    (system_fingerprint fp_ollama), so a plain call is checked with no extra request."""
    with FaultServer(prompt_tokens=4096, fingerprint="fp_ollama") as srv, _provider(srv) as p:
        p.chat(USER)  # the first answer: what the server is was read then, once, for its provenance
        before = srv.requests
        r = p.chat(history(150))
        assert srv.requests == before + 1  # the check cost no request
        assert r.prompt_truncated and r.prompt_tokens_sent is not None and r.prompt_tokens_sent > 4096
        s = p.stream(history(150))
        s.collect()
        assert s.result is not None and s.result.prompt_truncated
        short = p.chat(USER)  # a prompt that fits is not flagged, whatever the server counted
        assert not short.prompt_truncated
    assert "TRUNCATED" in r._repr_html_()


def test_ollama_truncation_is_flagged_when_the_kind_is_known_from_its_native_api() -> None:
    with FaultServer(routes=OLLAMA, prompt_tokens=4096) as srv:
        with nx.Provider(name="ollama", base_url=srv.base_url) as p:
            assert p.resolve_model() == "llama3.2:3b" and p.server_kind == "ollama"
            assert p.chat(history(150)).prompt_truncated


def test_a_server_that_does_not_cut_silently_is_not_second_guessed() -> None:
    """A stub that reports a fixed prompt count but is not known to cut prompts: nothing is flagged (a server
    that refuses an over-long prompt says so with an error)."""
    with FaultServer(prompt_tokens=5) as srv, _provider(srv) as p:
        r = p.chat(history(150))
    assert not r.prompt_truncated and r.prompt_tokens_sent is None


def test_ollama_windows_come_from_what_it_runs_not_what_it_was_trained_for() -> None:
    show = {"model_info": {"llama.context_length": 131072}, "parameters": 'stop "<|eot_id|>"\nnum_ctx 16384'}
    assert Ollama.window(show, None) == (16384, "modelfile num_ctx")
    assert Ollama.window({"model_info": {"llama.context_length": 131072}}, None) == (4096, "ollama default num_ctx")
    assert Ollama.window(show, {"context_length": 8192}) == (8192, "running")


# ------------------------------------------------------------------------------ embeddings


def test_per_token_embeddings_are_pooled_and_flagged() -> None:
    with FaultServer(per_token_embeddings=True) as srv, _provider(srv) as p:
        vectors = p.embed(["a", "b"])
        assert vectors.pooled and vectors[0] == pytest.approx([0.2, 0.3, 0.4])
        with pytest.raises(nx.InvalidResponse, match="one vector per token"):
            p.embed(["a"], pool=False)
        chain = nx.FallbackChain([p])
        assert chain.embed(["a"]).pooled
    with FaultServer() as srv, _provider(srv) as p:
        assert not p.embed(["a"]).pooled


# ---------------------------------------------------------------------------- whole-chat counts


def test_vllm_counts_whole_chats_through_its_tokenize_endpoint() -> None:
    with FaultServer(routes=VLLM) as srv, nx.Provider(name="v", base_url=srv.base_url) as p:
        counter = nx.counter_for(p, calibrate=False)
        assert isinstance(counter, nx.ServerCounter) and counter.applies_template
        count = counter.count_chat(USER)
        assert count.exact and count.method is nx.CountMethod.SERVER_TEMPLATE and count.tokens == 3


# ------------------------------------------------------------------------ Ollama's num_ctx


def test_a_window_asked_of_ollama_goes_through_its_native_chat() -> None:
    """/v1 cannot carry num_ctx: with num_ctx set, chat and stream go to /api/chat with options.num_ctx, come back
    as the kit's usual results (thinking included), and the budget is the window asked for."""
    with FaultServer(routes=OLLAMA, prompt_tokens=30, reasoning="reasoning") as srv:
        with nx.Provider(name="ollama", base_url=srv.base_url, num_ctx=16384) as p:
            assert p.context_window_info() == (16384, "num_ctx asked of ollama")
            r = p.chat(USER, max_tokens=7, temperature=0)
            assert srv.last_body["options"] == {"num_ctx": 16384, "num_predict": 7, "temperature": 0}
            assert srv.last_body["stream"] is False and srv.last_body["messages"] == USER
            assert (r.text, r.reasoning, r.finish_reason, r.usage.prompt_tokens) == ("stub answer", THOUGHT, "stop", 30)
            s = p.stream(USER)
            deltas = list(s.deltas())
            assert srv.last_body["stream"] is True and srv.last_body["options"]["num_ctx"] == 16384
            assert "".join(d.text for d in deltas if not d.reasoning) == "one two three "
            assert s.result is not None and s.result.reasoning == THOUGHT and s.result.usage.completion_tokens == 6

            async def run() -> nx.ChatResult:
                async with p.to_async() as ap:
                    st = await ap.stream(USER)
                    await st.collect()
                    assert st.result is not None and st.result.text == "one two three "
                    return await ap.chat(USER)

            assert asyncio.run(run()).text == "stub answer"


def test_num_ctx_on_a_server_that_is_not_ollama_is_refused_clearly() -> None:
    with FaultServer(routes=VLLM) as srv, nx.Provider(name="v", base_url=srv.base_url, num_ctx=8192) as p:
        with pytest.raises(nx.ConfigError, match=r"num_ctx: .* vLLM server: its window is set when it starts"):
            p.chat(USER)
