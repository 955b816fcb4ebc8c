"""Streams of chat deltas: iterate for text, read ``.result`` at the end.

The sync and async streams share one accumulator, so both build the final
:class:`~nxs_lab.results.ChatResult` the same way (text, tool calls assembled
from their fragments, usage when the server sends it, time to first token).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ..config import Timeouts
from ..errors import InvalidResponse, ProviderError, ResponseTimeout, StreamInterrupted
from ..results import ChatResult, ToolCall, Usage
from ._boundary import translated
from ._watchdog import shutdown_callback, socket_of, watchdog

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

    @property
    def has_tool_calls(self) -> bool:
        return bool(self._tools)

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


class _StreamBase:
    def __init__(
        self, open_stream: Callable[[], Any], acc: StreamAccumulator, base_url: str, timeouts: Timeouts
    ) -> None:
        self._open = open_stream
        self._acc = acc
        self._base_url = base_url
        self._timeouts = timeouts
        self._sdk_stream: Any = None
        self.result: ChatResult | None = None

    @property
    def text_so_far(self) -> str:
        return self._acc.text

    @property
    def provider(self) -> str:
        return self._acc.provider

    def _kw(self) -> dict[str, Any]:
        return dict(provider=self._acc.provider, base_url=self._base_url)

    def _timeout_error(self) -> ProviderError:
        if self._acc.chunks == 0:
            return ResponseTimeout(
                f"no stream chunk within the first-byte timeout ({self._timeouts.first_byte:g} s)", **self._kw()
            )
        return ResponseTimeout(
            f"the stream stalled longer than the idle timeout ({self._timeouts.idle:g} s)", **self._kw()
        )

    def _interrupted(self, exc: ProviderError) -> ProviderError:
        """Before any text: the error as it is (a chain may fail over). After: StreamInterrupted with the text."""
        if not self._acc.text and not self._acc.has_tool_calls:
            return exc
        return StreamInterrupted(
            f"the stream broke after {len(self._acc.text)} characters: {exc.message}",
            partial_text=self._acc.text,
            cause_kind=type(exc).__name__,
            status=exc.status,
            **self._kw(),
        )

    def _finish(self) -> ChatResult:
        if self._acc.finish_reason is None:
            # EOF without a finish reason is a cut stream, whatever the transport said.
            err = InvalidResponse("the stream ended without a finish reason (cut short)", **self._kw())
            raise self._interrupted(err)
        self.result = self._acc.result()
        return self.result


class ChatStream(_StreamBase):
    """An iterator of text deltas. After it is exhausted, ``.result`` holds the whole :class:`ChatResult`.

    The first chunk must arrive within ``timeouts.first_byte`` and each later one
    within ``timeouts.idle``. A failure before any text raises the provider's
    error; after text arrived it raises :class:`StreamInterrupted` carrying
    ``partial_text``: a cut answer is never passed off as complete.

    >>> s = provider.stream([{"role": "user", "content": "hi"}])   # doctest: +SKIP
    >>> for delta in s: print(delta, end="")                        # doctest: +SKIP
    >>> s.result.usage                                             # doctest: +SKIP
    """

    def __iter__(self) -> Iterator[str]:
        deadline = None
        try:
            with translated(self._acc.provider, self._base_url):
                self._sdk_stream = self._open()
                deadline = watchdog.deadline(shutdown_callback(socket_of(getattr(self._sdk_stream, "response", None))))
                deadline.set(time.monotonic() + self._timeouts.first_byte)
                for chunk in self._sdk_stream:
                    deadline.set(time.monotonic() + self._timeouts.idle)
                    delta = self._acc.feed(chunk)
                    if delta:
                        yield delta
                if deadline.fired:  # the shutdown read as a clean end of stream: it was our deadline
                    raise self._timeout_error()
        except ProviderError as exc:
            if deadline is not None and deadline.fired:
                raise self._interrupted(self._timeout_error()) from exc
            raise self._interrupted(exc) from exc
        finally:
            if deadline is not None:
                deadline.cancel()
            self.close()
        self._finish()

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


class AsyncChatStream(_StreamBase):
    """The async twin of :class:`ChatStream`: ``async for delta in stream``; then ``.result``."""

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            with translated(self._acc.provider, self._base_url):
                try:
                    async with asyncio.timeout(self._timeouts.first_byte):
                        self._sdk_stream = await self._open()
                        iterator = self._sdk_stream.__aiter__()
                        chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    chunk = None
                except TimeoutError:
                    raise self._timeout_error() from None
                while chunk is not None:
                    delta = self._acc.feed(chunk)
                    if delta:
                        yield delta
                    try:
                        async with asyncio.timeout(self._timeouts.idle):
                            chunk = await iterator.__anext__()
                    except StopAsyncIteration:
                        chunk = None
                    except TimeoutError:
                        raise self._timeout_error() from None
        except ProviderError as exc:
            raise self._interrupted(exc) from exc
        finally:
            await self.aclose()
        self._finish()

    async def aclose(self) -> None:
        if self._sdk_stream is not None:
            await self._sdk_stream.close()
            self._sdk_stream = None

    async def collect(self) -> ChatResult:
        async for _ in self:
            pass
        assert self.result is not None
        return self.result
