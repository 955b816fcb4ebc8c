"""Streams of chat deltas: iterate for the answer's text, read ``.result`` at the end.

The sync and async streams share one accumulator, so both build the final
:class:`~nxs_lab.results.ChatResult` the same way (text, reasoning, tool calls
assembled from their fragments, usage when the server sends it, time to first token).
A reasoning model's thinking streams too: :meth:`ChatStream.deltas` yields every
piece as a :class:`~nxs_lab.client.reasoning.Delta` that says which it is, while
iterating the stream itself yields the answer's text only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ..config import Timeouts
from ..errors import InvalidResponse, ProviderError, ResponseTimeout, StreamInterrupted
from ..results import ChatResult, ToolCall, Usage
from ._allowance import Allowance
from ._boundary import allowance_failure, translated
from .reasoning import Delta, ThinkSplitter, reasoning_field, settle_thinking

__all__ = [
    "AsyncCachedStream",
    "AsyncChatStream",
    "CachedStream",
    "ChatStream",
    "StreamAccumulator",
]


class StreamAccumulator:
    """Folds SDK ``ChatCompletionChunk`` objects into text deltas and one final result."""

    def __init__(self, provider: str, model: str, t0: float, *, thinking_opened: bool = False) -> None:
        self.provider = provider
        self.model = model
        self.t0 = t0
        self.parts: list[str] = []
        self.reasoning_parts: list[str] = []
        # until the server sends reasoning on its own; thinking_opened: the model's template opens a <think> block
        self._splitter: ThinkSplitter | None = ThinkSplitter(opened=thinking_opened)
        self.template_opened_thinking = False  # what result() found: a "</think>" that no "<think>" opened
        self.ttft: float | None = None
        self.finish_reason: str | None = None
        self.usage = Usage()
        self._tools: dict[int, dict[str, str]] = {}
        self.chunks = 0
        self.spoke = False  # a chunk carried a role, text, thinking or a tool call (an answer began, even if empty)
        self.fingerprint: str | None = None  # the server's system_fingerprint, when it sends one

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def has_tool_calls(self) -> bool:
        return bool(self._tools)

    def feed(self, chunk: Any) -> list[Delta]:
        """Take one chunk; return the thinking and answer deltas it carries (often one, sometimes none)."""
        if not hasattr(chunk, "choices"):
            raise InvalidResponse("a stream chunk is not a chat completion chunk", provider=self.provider)
        self.chunks += 1
        if getattr(chunk, "model", None):
            self.model = chunk.model
        if isinstance(getattr(chunk, "system_fingerprint", None), str):
            self.fingerprint = chunk.system_fingerprint
        if getattr(chunk, "usage", None) is not None:
            self.usage = Usage.from_reply(chunk)
        elif self.usage.cached_tokens is None and (getattr(chunk, "model_extra", None) or {}).get("timings"):
            # llama-server without usage in the stream still sends its timings (with the cache) at the end
            self.usage = dataclasses.replace(self.usage, cached_tokens=Usage.from_reply(chunk).cached_tokens)
        out: list[Delta] = []
        for choice in chunk.choices or ():
            if choice.index not in (0, None):
                continue
            delta = choice.delta
            if delta is not None:
                thought = reasoning_field(delta)
                if getattr(delta, "role", None) or delta.content is not None or delta.tool_calls or thought:
                    self.spoke = True
                if thought:
                    self._splitter = None  # the server splits thinking out itself: content is all answer
                    out.append(Delta(thought, True))
                if delta.content:
                    out += self._splitter.feed(delta.content) if self._splitter else [Delta(delta.content)]
                for tc in delta.tool_calls or ():
                    slot = self._tools.setdefault(tc.index or 0, {"id": "", "name": "", "arguments": ""})
                    if tc.id:
                        slot["id"] = tc.id
                    if tc.function is not None:
                        slot["name"] += tc.function.name or ""
                        slot["arguments"] += tc.function.arguments or ""
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
                out += self._splitter.flush() if self._splitter else []
        return self._took(out)

    def _took(self, deltas: list[Delta]) -> list[Delta]:
        """Record ``deltas`` (and the time of the first token, thinking included)."""
        if (deltas or self._tools) and self.ttft is None:
            self.ttft = time.perf_counter() - self.t0
        for d in deltas:
            (self.reasoning_parts if d.reasoning else self.parts).append(d.text)
        return deltas

    def result(self) -> ChatResult:
        calls = tuple(
            ToolCall(id=s["id"] or f"call_{i}", name=s["name"], arguments=s["arguments"])
            for i, s in sorted(self._tools.items())
        )
        reasoning, text = self.reasoning, self.text
        if self._splitter is not None:
            opened = self._splitter.opened
            reasoning, text = settle_thinking(reasoning, text, opened=opened, finish_reason=self.finish_reason)
            self.template_opened_thinking = bool(reasoning) and (not self.reasoning or (opened and bool(text)))
        return ChatResult(
            text=text,
            reasoning=reasoning,
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
        self,
        open_stream: Callable[[], Any],
        acc: StreamAccumulator,
        base_url: str,
        timeouts: Timeouts,
        max_bytes: int | None = None,
        on_result: Callable[[ChatResult], ChatResult] | None = None,
    ) -> None:
        self._open = open_stream
        self._on_result = on_result
        self._acc = acc
        self._base_url = base_url
        self._timeouts = timeouts
        self._allowance = Allowance(max_bytes=max_bytes)
        self._t_open = time.monotonic()
        self._sdk_stream: Any = None
        self._stopped = False
        self.result: ChatResult | None = None

    @property
    def text_so_far(self) -> str:
        return self._acc.text

    @property
    def provider(self) -> str:
        return self._acc.provider

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` ended this stream."""
        return self._stopped

    def _kw(self) -> dict[str, Any]:
        return dict(provider=self._acc.provider, base_url=self._base_url)

    def _total_end(self) -> float:
        total = self._timeouts.stream_total
        return self._t_open + total if total is not None else float("inf")

    def _next_wait(self) -> float:
        """Seconds the next chunk may take: first-byte or idle, never past ``stream_total``."""
        wait = self._timeouts.first_byte if self._acc.chunks == 0 else self._timeouts.idle
        return min(wait, self._total_end() - time.monotonic())

    def _arm_open(self, b: Allowance) -> None:
        """Before the request is opened: the first-byte limit starts once the request is on the wire (the first
        read), so building the client, waiting for a pooled connection and connecting never count against the
        server (each has its own bound: the pool's wait, the connect timeout); ``stream_total`` bounds it all."""
        end = self._total_end()
        b.deadline = None if end == float("inf") else end
        b.first_byte = self._timeouts.first_byte

    def _timeout_error(self) -> ProviderError:
        if time.monotonic() >= self._total_end() - 0.005:
            return ResponseTimeout(
                f"the stream did not finish within its total timeout ({self._timeouts.stream_total:g} s)", **self._kw()
            )
        if self._acc.chunks == 0:
            return ResponseTimeout(
                f"no stream chunk within the first-byte timeout ({self._timeouts.first_byte:g} s)", **self._kw()
            )
        return ResponseTimeout(
            f"the stream stalled longer than the idle timeout ({self._timeouts.idle:g} s)", **self._kw()
        )

    def _allowance_error(self, exc: ProviderError) -> ProviderError:
        """The error to report: what the allowance says ran out, else ``exc`` itself."""
        return allowance_failure(self._allowance, self._timeout_error, self._acc.provider, self._base_url) or exc

    def _interrupted(self, exc: ProviderError) -> ProviderError:
        """Before any text: the error as it is (a chain may fail over). After: StreamInterrupted with the text."""
        if not self._acc.text and not self._acc.reasoning and not self._acc.has_tool_calls:
            return exc
        return StreamInterrupted(
            f"the stream broke after {len(self._acc.text)} characters: {exc.message}",
            partial_text=self._acc.text,
            partial_reasoning=self._acc.reasoning,
            cause_kind=type(exc).__name__,
            status=exc.status,
            **self._kw(),
        )

    def stop(self) -> None:
        """End the stream now, from any thread (a Stop button): a read under way is woken, one not yet begun fails
        at once; the iteration ends quietly with the text so far (``.result`` stays ``None``, :attr:`stopped`)."""
        self._stopped = True
        self._allowance.cancel()

    def _collected(self) -> ChatResult:
        """``.result`` once the stream was read to its end; a stopped stream has none, and says so."""
        if self.result is None:
            raise StreamInterrupted(
                "the stream was stopped before it finished",
                partial_text=self._acc.text,
                partial_reasoning=self._acc.reasoning,
                **self._kw(),
            )
        return self.result

    def _finish(self) -> ChatResult:
        if self._acc.finish_reason is None:
            # EOF without a finish reason is a cut stream, whatever the transport said.
            err = InvalidResponse("the stream ended without a finish reason (cut short)", **self._kw())
            raise self._interrupted(err)
        if not self._acc.spoke and not self._acc.usage.completion_tokens:
            # A finish with no answer begun and nothing generated: a proxy closing a failed upstream as "done".
            raise InvalidResponse(
                f"the stream finished ({self._acc.finish_reason}) without an answer: no role, text or tool call came",
                **self._kw(),
            )
        result = self._acc.result()
        self.result = self._on_result(result) if self._on_result is not None else result
        return self.result


class ChatStream(_StreamBase):
    """An iterator of text deltas. After it is exhausted, ``.result`` holds the whole :class:`ChatResult`.

    The first chunk must arrive within ``timeouts.first_byte`` of the request and each later one
    within ``timeouts.idle``; with ``timeouts.stream_total`` set, the whole stream within that. A failure
    before any text raises the provider's error; after text arrived it raises :class:`StreamInterrupted`
    carrying ``partial_text``: a cut answer is never passed off as complete. :meth:`stop` (from any
    thread, e.g. a Stop button) ends it at once, even while the server is silent.

    >>> s = provider.stream([{"role": "user", "content": "hi"}])   # doctest: +SKIP
    >>> for delta in s: print(delta, end="")                        # doctest: +SKIP
    >>> s.result.usage                                             # doctest: +SKIP
    """

    def __iter__(self) -> Iterator[str]:
        return (d.text for d in self.deltas() if not d.reasoning)

    def deltas(self) -> Iterator[Delta]:
        """Every delta, thinking (``reasoning=True``) and answer alike, as it arrives. Reading this or the
        stream itself consumes the same stream: use one of them."""
        if self._stopped:
            return
        b = self._allowance
        self._t_open = time.monotonic()
        try:
            with translated(self._acc.provider, self._base_url):
                # The allowance is set around each read only, never across a yield: the reader's own calls
                # between two deltas must not run under this stream's deadline.
                self._arm_open(b)
                with b.active():
                    self._sdk_stream = self._open()
                    chunks = iter(self._sdk_stream)
                while not self._stopped:
                    b.deadline = time.monotonic() + self._next_wait()
                    with b.active():
                        chunk = next(chunks, None)
                    if chunk is None:
                        break
                    yield from self._acc.feed(chunk)
        except ProviderError as exc:
            if self._stopped:
                return
            raise self._interrupted(self._allowance_error(exc)) from exc
        finally:
            self.close()
        if not self._stopped:
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
        return self._collected()


class AsyncChatStream(_StreamBase):
    """The async twin of :class:`ChatStream`: ``async for delta in stream``; then ``.result``."""

    async def _next(self, chunks: Any) -> Any:
        try:
            async with asyncio.timeout(max(self._next_wait(), 0.0)):
                with self._allowance.active():
                    return await chunks.__anext__()
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise self._timeout_error() from None

    async def __aiter__(self) -> AsyncIterator[str]:
        async for d in self.deltas():
            if not d.reasoning:
                yield d.text

    async def deltas(self) -> AsyncIterator[Delta]:
        """Every delta, thinking and answer alike (see :meth:`ChatStream.deltas`)."""
        if self._stopped:
            return
        self._t_open = time.monotonic()
        try:
            with translated(self._acc.provider, self._base_url):
                self._arm_open(self._allowance)
                with self._allowance.active():
                    self._sdk_stream = await self._open()
                self._allowance.deadline = None  # from here each chunk's wait is bounded in _next
                chunks = self._sdk_stream.__aiter__()
                while not self._stopped and (chunk := await self._next(chunks)) is not None:
                    for delta in self._acc.feed(chunk):
                        yield delta
        except ProviderError as exc:
            if self._stopped:
                return
            raise self._interrupted(self._allowance_error(exc)) from exc
        finally:
            await self.aclose()
        if not self._stopped:
            self._finish()

    async def aclose(self) -> None:
        if self._sdk_stream is not None:
            await self._sdk_stream.close()
            self._sdk_stream = None

    async def collect(self) -> ChatResult:
        async for _ in self:
            pass
        return self._collected()


class _CachedStreamBase:
    """An answer from the response cache (:mod:`nxs_lab.client.cache`) behind a stream's interface: its thinking and
    its text, one delta each, then ``.result`` (``cached=True``). Nothing is sent; :meth:`stop` ends it."""

    def __init__(self, result: ChatResult) -> None:
        self._cached = result
        self.result: ChatResult | None = None
        self._stopped = False

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        self._stopped = True

    def _pieces(self) -> list[Delta]:
        r = self._cached
        return [d for d in (Delta(r.reasoning, True), Delta(r.text)) if d.text]


class CachedStream(_CachedStreamBase):
    def deltas(self) -> Iterator[Delta]:
        for d in self._pieces():
            if self._stopped:
                return
            yield d
        self.result = self._cached

    def __iter__(self) -> Iterator[str]:
        return (d.text for d in self.deltas() if not d.reasoning)

    def collect(self) -> ChatResult:
        for _ in self:
            pass
        return self._cached

    def close(self) -> None:
        self._stopped = True


class AsyncCachedStream(_CachedStreamBase):
    async def deltas(self) -> AsyncIterator[Delta]:
        for d in self._pieces():
            if self._stopped:
                return
            yield d
        self.result = self._cached

    async def __aiter__(self) -> AsyncIterator[str]:
        async for d in self.deltas():
            if not d.reasoning:
                yield d.text

    async def collect(self) -> ChatResult:
        async for _ in self:
            pass
        return self._cached

    async def aclose(self) -> None:
        self._stopped = True
