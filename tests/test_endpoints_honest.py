"""The Responses and completions calls as honest as chat, against llama.cpp's own llama-server: the provider's
defaults applied, a reply cut at its limit marked so, one finish-reason vocabulary, sync and async."""

from __future__ import annotations

import asyncio

import nxs_lab as nx

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
