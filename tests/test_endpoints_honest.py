"""The Responses and completions calls as honest as chat, against llama.cpp's own llama-server: the provider's
defaults applied, a reply cut at its limit marked so, one finish-reason vocabulary, sync and async."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.testing import foreign

STORY = "Write a long story about a lighthouse keeper and the sea."


def test_respond_keeps_the_providers_limit_and_says_when_it_cut(llama_server: str) -> None:
    with nx.Provider(name="llama", base_url=llama_server, max_tokens=3) as p:
        cut = p.respond(STORY)
        assert cut.endpoint == "responses" and cut.usage.completion_tokens is not None
        assert cut.usage.completion_tokens <= 3  # the provider's max_tokens, as max_output_tokens
        assert cut.truncated and cut.finish_reason == "length"  # llama-server itself says "completed"
        chat = p.chat([{"role": "user", "content": STORY}])
        assert chat.finish_reason == cut.finish_reason  # one vocabulary
        done = p.respond("Say hi.", max_output_tokens=200)
        assert done.finish_reason == "stop" and not done.truncated and done.text
        assert done.usage.completion_tokens is not None and done.usage.completion_tokens < 200
        called = p.respond("Say hi.", max_tokens=2)  # chat's name for the limit works here too
        assert called.usage.completion_tokens == 2 and called.truncated


def test_complete_keeps_the_providers_limit_and_says_when_it_cut(llama_server: str) -> None:
    with nx.Provider(name="llama", base_url=llama_server, max_tokens=3) as p:
        r = p.complete("Once upon a time")
        assert r.endpoint == "completions" and r.usage.completion_tokens == 3 and r.truncated


def test_the_async_twins_are_as_honest(llama_server: str) -> None:
    async def run() -> tuple[nx.ChatResult, nx.ChatResult]:
        async with nx.AsyncProvider(name="llama", base_url=llama_server, max_tokens=3) as p:
            return await p.respond(STORY), await p.complete("Once upon a time")

    responded, completed = asyncio.run(run())
    assert responded.usage.completion_tokens is not None and responded.usage.completion_tokens <= 3
    assert responded.truncated and responded.finish_reason == "length"
    assert completed.usage.completion_tokens == 3 and completed.truncated


@pytest.mark.server
def test_a_template_that_opens_thinking_is_known_before_the_first_stream() -> None:
    """llama-server says, through /apply-template, that the template opens a <think> block (as Qwen3's and
    DeepSeek-R1's do): the very first stream shows its thinking as thinking, never as answer text."""
    if foreign.llama_server_binary() is None:
        pytest.skip("llama-server is not built: bash scripts/build_llama_server.sh")
    template = Path(__file__).parent / "templates" / "thinking_opened.jinja"
    with foreign.llama_server(1024, extra=["--chat-template-file", str(template)]) as url:
        with nx.Provider(name="thinker", base_url=url) as p:
            stream = p.stream([{"role": "user", "content": "Why is the sky blue?"}], max_tokens=24, temperature=0)
            deltas = list(stream.deltas())
            assert deltas and all(d.reasoning for d in deltas)  # not one piece shown as answer while streaming
            assert stream.result is not None and stream.result.reasoning and stream.result.finish_reason == "length"
            assert p.resolve_model() in p.catalog.thinking_opened


def test_a_template_that_does_not_is_streamed_as_answer(llama_server: str) -> None:
    with nx.Provider(name="plain", base_url=llama_server) as p:
        stream = p.stream([{"role": "user", "content": "Say hi."}], max_tokens=8)
        deltas = list(stream.deltas())
        assert deltas and not any(d.reasoning for d in deltas) and not p.catalog.thinking_opened
