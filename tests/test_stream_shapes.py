"""The 200 streams real servers send when something failed upstream (each shape from the server's own tracker, see
the fault kit): typed errors before the first token, so a chain fails over, never an empty or error-text answer."""

from __future__ import annotations

import asyncio

import pytest

import nxs_lab as nx
from nxs_lab.client.overflow import parse_overflow
from nxs_lab.testing import Fault, FaultServer

USER = [{"role": "user", "content": "hi"}]
SHAPES = [Fault.STREAM_ERROR, Fault.EMPTY_STREAM, Fault.EMPTY_STOP, Fault.LEAKED_FRAME]


@pytest.mark.parametrize("shape", SHAPES)
def test_a_broken_200_stream_fails_over_before_any_text(shape: Fault) -> None:
    with FaultServer(shape) as broken, FaultServer(Fault.OK) as healthy:
        chain = nx.FallbackChain(
            [
                nx.Provider(name="broken", base_url=broken.base_url, model="stub-model"),
                nx.Provider(name="healthy", base_url=healthy.base_url, model="stub-model"),
            ]
        )
        shown: list[str] = []
        stream = chain.stream(USER, max_tokens=8)
        for text in stream:
            shown.append(text)
        assert stream.result is not None and stream.result.provider == "healthy"
        assert "".join(shown) == stream.result.text and "crashed" not in "".join(shown)
        failed = [a for a in stream.result.attempts if a.provider == "broken"]
        assert failed and failed[0].error == "InvalidResponse"
        chain.close()


@pytest.mark.parametrize("shape", SHAPES)
def test_alone_it_is_an_error_sync_and_async(shape: Fault) -> None:
    with FaultServer(shape) as broken:
        p = nx.Provider(name="broken", base_url=broken.base_url, model="stub-model")
        with pytest.raises(nx.InvalidResponse):
            "".join(p.stream(USER, max_tokens=8))

        async def read() -> None:
            async with p.to_async() as ap:
                async for _ in await ap.stream(USER, max_tokens=8):
                    pass

        with pytest.raises(nx.InvalidResponse):
            asyncio.run(read())
        p.close()


@pytest.mark.parametrize(
    ("body", "prompt", "window"),
    [
        # LM Studio 0.4 (openclaude#353, opencode#11141, lmstudio-bug-tracker#2205)
        ({"error": "The number of tokens to keep from the initial prompt is greater than the context length "
                   "(n_keep: 13055>= n_ctx: 4096). Try to load the model with a larger context length"}, 13055, 4096),
        ({"error": {"message": "Cannot truncate prompt with n_keep (15028) >= n_ctx (7424)"}}, 15028, 7424),
        ({"error": "The number of tokens to keep from the initial prompt is greater than the context length."},
         None, None),
    ],
)  # fmt: skip
def test_lm_studios_newer_overflow_wording_is_an_overflow_with_its_numbers(
    body: dict, prompt: int | None, window: int | None
) -> None:
    info = parse_overflow(400, body)
    assert info is not None and (info.prompt_tokens, info.context_window) == (prompt, window)
    with FaultServer(Fault.STATUS, status=400, body=body) as lmstudio:
        p = nx.Provider(name="lmstudio", base_url=lmstudio.base_url, model="stub-model")
        with pytest.raises(nx.ContextOverflow) as raised:
            p.chat(USER, max_tokens=8)
        assert (raised.value.prompt_tokens, raised.value.context_window) == (prompt, window)
        p.close()
