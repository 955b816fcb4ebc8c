"""Streams of chat deltas: iterate for text, read ``.result`` at the end.

The sync and async streams share one accumulator, so both build the final
:class:`~nxs_lab.results.ChatResult` the same way (text, tool calls assembled
from their fragments, usage when the server sends it, time to first token).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ._boundary import translated
from .errors import InvalidResponse
from .results import ChatResult, ToolCall, Usage

__all__ = ["AsyncChatStream", "ChatStream", "StreamAccumulator"]


class StreamAccumulator:
    """Folds SDK ``ChatCompletionChunk`` objects into text deltas and one final result."""

    def __init__(self, provider: str, model: str, t0: float) -> None:
        self.provider = provider
        self.model = model
        self.t0 = t0
        self.parts: list[str] = []
        self.ttft: float | None = None
        self.finish_reason: str | None = None
        self.usage = Usage()
        self._tools: dict[int, dict[str, str]] = {}
        self.chunks = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def feed(self, chunk: Any) -> str | None:
        """Take one chunk; return its text delta, if it carries any."""
        if not hasattr(chunk, "choices"):
            raise InvalidResponse("a stream chunk is not a chat completion chunk", provider=self.provider)
        self.chunks += 1
        if getattr(chunk, "model", None):
            self.model = chunk.model
        if getattr(chunk, "usage", None) is not None:
            self.usage = Usage.from_sdk(chunk.usage)
        delta_text = None
        for choice in chunk.choices or ():
            if choice.index not in (0, None):
                continue
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    delta_text = delta.content
                for tc in delta.tool_calls or ():
                    slot = self._tools.setdefault(tc.index or 0, {"id": "", "name": "", "arguments": ""})
                    if tc.id:
                        slot["id"] = tc.id
                    if tc.function is not None:
                        slot["name"] += tc.function.name or ""
                        slot["arguments"] += tc.function.arguments or ""
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        if (delta_text or self._tools) and self.ttft is None:
            self.ttft = time.perf_counter() - self.t0
        if delta_text:
            self.parts.append(delta_text)
        return delta_text

    def result(self) -> ChatResult:
        calls = tuple(
            ToolCall(id=s["id"] or f"call_{i}", name=s["name"], arguments=s["arguments"])
            for i, s in sorted(self._tools.items())
        )
        return ChatResult(
            text=self.text,
            provider=self.provider,
            model=self.model,
            finish_reason=self.finish_reason,
            tool_calls=calls,
            usage=self.usage,
            latency_s=time.perf_counter() - self.t0,
            ttft_s=self.ttft,
        )


class ChatStream:
    """An iterator of text deltas. After it is exhausted, ``.result`` holds the whole :class:`ChatResult`.

    >>> s = provider.stream([{"role": "user", "content": "hi"}])   # doctest: +SKIP
    >>> for delta in s: print(delta, end="")                        # doctest: +SKIP
    >>> s.result.usage                                             # doctest: +SKIP
    """

    def __init__(self, open_stream: Callable[[], Any], acc: StreamAccumulator, base_url: str) -> None:
        self._open = open_stream
        self._acc = acc
        self._base_url = base_url
        self._sdk_stream: Any = None
        self.result: ChatResult | None = None

    @property
    def text_so_far(self) -> str:
        return self._acc.text

    def __iter__(self) -> Iterator[str]:
        with translated(self._acc.provider, self._base_url):
            self._sdk_stream = self._open()
            try:
                for chunk in self._sdk_stream:
                    delta = self._acc.feed(chunk)
                    if delta:
                        yield delta
            finally:
                self.close()
        self.result = self._acc.result()

    def close(self) -> None:
        """Stop reading; the connection is released."""
        if self._sdk_stream is not None:
            self._sdk_stream.close()
            self._sdk_stream = None

    def collect(self) -> ChatResult:
        """Read the whole stream and return the result."""
        for _ in self:
            pass
        assert self.result is not None
        return self.result


class AsyncChatStream:
    """The async twin of :class:`ChatStream`: ``async for delta in stream``; then ``.result``."""

    def __init__(self, open_stream: Callable[[], Any], acc: StreamAccumulator, base_url: str) -> None:
        self._open = open_stream
        self._acc = acc
        self._base_url = base_url
        self._sdk_stream: Any = None
        self.result: ChatResult | None = None

    @property
    def text_so_far(self) -> str:
        return self._acc.text

    async def __aiter__(self) -> AsyncIterator[str]:
        with translated(self._acc.provider, self._base_url):
            self._sdk_stream = await self._open()
            try:
                async for chunk in self._sdk_stream:
                    delta = self._acc.feed(chunk)
                    if delta:
                        yield delta
            finally:
                await self.aclose()
        self.result = self._acc.result()

    async def aclose(self) -> None:
        if self._sdk_stream is not None:
            await self._sdk_stream.close()
            self._sdk_stream = None

    async def collect(self) -> ChatResult:
        async for _ in self:
            pass
        assert self.result is not None
        return self.result
