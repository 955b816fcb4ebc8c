"""ContextGuard: one provider's requests fitted to its own window, and its answers checked against what the server
says it saw.

    >>> guard = ContextGuard(provider, calibrate=True)          # doctest: +SKIP
    >>> r = guard.chat(long_history, max_tokens=256)            # doctest: +SKIP
    >>> r.dropped_messages, r.prompt_tokens_sent, r.prompt_truncated, r.prompt_miscounted   # doctest: +SKIP

Every answer's ``usage.prompt_tokens`` checks the count the request was fitted with: a server that saw more than
the count could be (one that HTML-escapes prompts, or rewrites them) teaches the counter its correction, which
is kept for that provider and model and logged once, and the result says the count was off. A refusal that
states the server's count of the prompt teaches the same before the request is refitted and sent once more
(streams too, before their first token); only a second refusal reaches the caller, as
:class:`~nxs_lab.errors.ContextOverflow` with both counts.

A :class:`~nxs_lab.FallbackChain` built with ``fit=True`` keeps one guard per
provider, so a fallback to a smaller model gets a trimmed payload and one to a
larger model gets the full history back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ContextOverflow, InvalidResponse
from ..results import ChatResult
from ..tokens.truncation import check_truncation
from .budget import LOW_WATER, ContextBudget, Summarizer, check_fit_options
from .counting import CountMethod, TokenCount, TokenCounter, ToolSpec, counter_for, remember_correction, tool_spec

if TYPE_CHECKING:
    from ..client import AsyncProvider, BaseProvider, Provider
    from ..client.reasoning import Delta

log = logging.getLogger("nxs_lab.context")

__all__ = ["AsyncContextGuard", "AsyncGuardedStream", "ContextGuard", "GuardedStream", "Prepared"]

Message = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Prepared:
    """Messages ready for one provider: fitted (or as given when its window is unknown)."""

    messages: list[Message]
    count: TokenCount | None
    dropped: int
    budget: ContextBudget | None
    window_source: str
    tools: ToolSpec | None = None
    counter: TokenCounter | None = None  # set when the tools' cost was not counted exactly: an answer teaches it
    model: str | None = None  # as the call named it (None: the provider's)

    def params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The call's parameters, with the budget's output reserve as ``max_tokens`` unless one was given."""
        kw = dict(params)
        kw.setdefault("max_tokens", self.budget.max_tokens if self.budget else None)
        return kw

    def finish(self, result: ChatResult) -> ChatResult:
        """The answer to this request, flagged when the server counted fewer prompt tokens than were sent."""
        if self.count is not None:
            result = check_truncation(result, self.count)
            self._learn_tools(result)
        return dataclasses.replace(result, dropped_messages=self.dropped)

    def _learn_tools(self, result: ChatResult) -> None:
        """What the tools cost, from the server's own count of the prompt: the next fit uses it, not a guess.
        Not from an answer that calls tools: llama-cpp-python reaches those in several completions and reports
        the sum of their prompts."""
        got = result.usage.prompt_tokens
        if self.tools is None or self.counter is None or got is None or result.prompt_truncated or result.tool_calls:
            return
        without = self.counter.count_messages(self.messages)
        self.counter.learn_tools(self.tools, got - without.tokens, without.error)


class _GuardBase:
    """Budget, fitting and the truncation check: everything a guard decides, without I/O of its own."""

    def __init__(
        self,
        provider: BaseProvider,
        *,
        counter: TokenCounter | None = None,
        calibrate: bool | None = None,
        default_max_tokens: int = 512,
        strategy: str = "drop",
        summarizer: Summarizer | None = None,
        cut: str = "stable",
        low_water: float = LOW_WATER,
    ) -> None:
        check_fit_options(strategy, summarizer, cut, low_water)  # refused here, not at the first long chat
        self.provider = provider
        self._counter = counter
        self._calibrate = calibrate
        self.default_max_tokens = default_max_tokens
        self.strategy = strategy
        self.summarizer = summarizer
        self.cut = cut
        self.low_water = low_water
        self._summaries: dict[str, str] = {}  # a summary stays the same until the next cut

    @property
    def counter(self) -> TokenCounter:
        if self._counter is None:
            self._counter = counter_for(self.provider, calibrate=self._calibrate)
        return self._counter

    def budget(self, max_tokens: int | None = None, model: str | None = None) -> tuple[ContextBudget | None, str]:
        window, source = self.provider.catalog.context_window_info(model)
        if window is None:
            return None, source
        out = max_tokens or self.provider.max_tokens or min(self.default_max_tokens, window // 4)
        return ContextBudget(window, out, self.provider.reserve), source

    def prepare(self, messages: Sequence[Message], params: Mapping[str, Any]) -> Prepared:
        """The request fitted to the window (may ask the server for its window and token counts)."""
        budget, source = self.budget(params.get("max_tokens"), params.get("model"))
        tools = tool_spec(params)
        if budget is None:
            # Unknown window: nothing to fit to. Still count, so truncation can be caught.
            msgs, count, dropped = list(messages), self.counter.count_chat(messages, tools), 0
        else:
            fit = budget.fit(
                messages, self.counter, strategy=self.strategy, summarizer=self.summarizer, tools=tools,
                cut=self.cut, low_water=self.low_water, summaries=self._summaries,
            )  # fmt: skip
            msgs, count, dropped = fit.messages, fit.count, len(fit.dropped)
        learns = tools is not None and count.method is not CountMethod.SERVER_TEMPLATE
        return Prepared(
            msgs, count, dropped, budget, source, tools, self.counter if learns else None, params.get("model")
        )

    def finish(self, result: ChatResult, prepared: Prepared) -> ChatResult:
        """The answer flagged as ``prepared.finish`` does, and the count it was fitted with checked against the
        server's ``usage.prompt_tokens``: a count the server contradicts teaches the counter its correction, and
        the result says ``prompt_miscounted``."""
        result = prepared.finish(result)
        got = result.usage.prompt_tokens
        # Not from an answer that calls tools: llama-cpp-python reaches those in several completions and reports
        # the sum of their prompts. Not from a cut prompt: that is the truncation flag's.
        if got is None or prepared.count is None or result.tool_calls or result.prompt_truncated:
            return result
        if not self._corrected(prepared, got, "answered"):
            return result
        return dataclasses.replace(result, prompt_miscounted=True)

    def _corrected(self, prepared: Prepared, server_tokens: int, how: str) -> bool:
        """Whether the server's count of the prepared prompt taught the counter a correction (kept for this
        provider and model, and said once in the log)."""
        counted = prepared.count
        correction = self.counter.learn_from_usage(prepared.messages, prepared.tools, server_tokens)
        if counted is None or correction is None:
            return False
        remember_correction(self.provider, prepared.model, self.counter)
        log.info(
            "%s %s a prompt the kit counted as %s with %d tokens by its own count: counting %s from now on",
            self.provider.name, how, counted.label(), server_tokens, correction.label(),
        )  # fmt: skip
        return True

    def learned(self, exc: ContextOverflow, prepared: Prepared, params: Mapping[str, Any]) -> bool:
        """After an overflow: did the server state a window other than the one fitted to, or a count of the prompt
        the fit's count cannot be? Then what it said is remembered for this provider and model, and the caller
        refits and retries once."""
        window = exc.context_window
        learned = False
        if window is not None and (prepared.budget is None or prepared.budget.context_window != window):
            learned = bool(self.provider.catalog.learn_window(params.get("model"), window))
            if learned:
                log.info("%s refused the request as too long and said its window is %d: refitted and sent again",
                         self.provider.name, window)  # fmt: skip
        if exc.prompt_tokens is not None and prepared.count is not None:
            learned = self._corrected(prepared, exc.prompt_tokens, "refused as too long") or learned
        return learned

    def overflow(self, exc: ContextOverflow, prepared: Prepared) -> ContextOverflow:
        """The refusal as the caller sees it: the server's numbers beside the kit's count of the same prompt."""
        counted = prepared.count
        if counted is None or exc.counted_tokens is not None:
            return exc
        said = (
            f"{exc.prompt_tokens} by the server's count"
            if exc.prompt_tokens is not None
            else "the server's count unstated"
        )
        out = ContextOverflow(
            f"{exc.message} (the prompt: {counted.label()} by the kit's count, {said})",
            prompt_tokens=exc.prompt_tokens, context_window=exc.context_window, counted_tokens=counted.tokens,
            provider=exc.provider, base_url=exc.base_url, status=exc.status, request_id=exc.request_id,
            detail=exc.detail,
        )  # fmt: skip
        out.__cause__ = exc.__cause__
        return out


class ContextGuard(_GuardBase):
    """Fits requests to ``provider``'s window and flags answers whose prompt the server cut.

    Args:
        counter: the token counter (default: the best available, see :func:`~nxs_lab.context.counting.counter_for`).
        calibrate: how the chat template's overhead is found (see :func:`~nxs_lab.context.counting.counter_for`):
            by default measured once per provider and model for local and LAN servers.
        default_max_tokens: the output reserve when a call gives no ``max_tokens`` (capped at a quarter
            of the window).
        strategy, summarizer, cut, low_water: passed to :meth:`ContextBudget.fit`: by default a history past the
            window is cut at stable points, so the server's prompt cache keeps serving its beginning.
    """

    provider: Provider

    def chat(self, messages: Sequence[Message], **params: Any) -> ChatResult:
        """The fitted request's answer. A server that refuses it and states its window (unknown or different
        here) teaches the guard that window: it is remembered, and the request refitted and sent once more."""
        prepared = self.prepare(messages, params)
        try:
            result = self.provider.chat(prepared.messages, **prepared.params(params))
        except ContextOverflow as exc:
            if not self.learned(exc, prepared, params):
                raise self.overflow(exc, prepared) from None
            prepared = self.prepare(messages, params)
            try:
                result = self.provider.chat(prepared.messages, **prepared.params(params))
            except ContextOverflow as again:
                raise self.overflow(again, prepared) from None
        return self.finish(result, prepared)

    def stream(self, messages: Sequence[Message], **params: Any) -> GuardedStream:
        """A stream of the fitted request: refused as too long before its first token, refitted and opened once more;
        its ``.result`` is checked as :meth:`chat`'s is."""
        return GuardedStream(self, messages, params)


class AsyncContextGuard(_GuardBase):
    """:class:`ContextGuard` for an :class:`~nxs_lab.AsyncProvider`: fitting (which may count through the
    server) runs on a worker thread, the call itself on the event loop."""

    provider: AsyncProvider

    async def aprepare(self, messages: Sequence[Message], params: Mapping[str, Any]) -> Prepared:
        return await asyncio.to_thread(self.prepare, messages, params)

    async def chat(self, messages: Sequence[Message], **params: Any) -> ChatResult:
        prepared = await self.aprepare(messages, params)
        try:
            result = await self.provider.chat(prepared.messages, **prepared.params(params))
        except ContextOverflow as exc:
            if not await asyncio.to_thread(self.learned, exc, prepared, params):
                raise self.overflow(exc, prepared) from None
            prepared = await self.aprepare(messages, params)
            try:
                result = await self.provider.chat(prepared.messages, **prepared.params(params))
            except ContextOverflow as again:
                raise self.overflow(again, prepared) from None
        return await asyncio.to_thread(self.finish, result, prepared)

    async def stream(self, messages: Sequence[Message], **params: Any) -> AsyncGuardedStream:
        """:meth:`ContextGuard.stream`, awaited: the request is fitted on a worker thread before it returns."""
        prepared = await self.aprepare(messages, params)
        return AsyncGuardedStream(self, messages, params, prepared)


class _GuardedStreamBase:
    """What a guarded stream shares, sync or async: the stream being read, its request, stop, and the result."""

    def __init__(self, guard: _GuardBase, messages: Sequence[Message], params: Mapping[str, Any]) -> None:
        self._guard = guard
        self._messages = list(messages)
        self._params = dict(params)
        self._stream: Any = None
        self._stopped = False
        self.prepared: Prepared | None = None
        self.result: ChatResult | None = None

    def stop(self) -> None:
        """End the stream now, from any thread; no request is refitted or sent after it."""
        self._stopped = True
        if self._stream is not None:
            self._stream.stop()

    @property
    def stopped(self) -> bool:
        return self._stopped or bool(getattr(self._stream, "stopped", False))

    @property
    def text_so_far(self) -> str:
        return self._stream.text_so_far if self._stream is not None else ""

    def _retry(self, exc: ContextOverflow, started: bool, retried: bool) -> None:
        """After a refusal: raise it (with both counts) unless it came before any text, first, and taught
        something; then the caller refits and opens once more."""
        assert self.prepared is not None
        if started or retried or self._stopped or not self._guard.learned(exc, self.prepared, self._params):
            raise self._guard.overflow(exc, self.prepared) from None

    def _finished(self) -> None:
        assert self.prepared is not None
        if self._stream.result is not None:
            self.result = self._guard.finish(self._stream.result, self.prepared)


class GuardedStream(_GuardedStreamBase):
    """A :class:`ContextGuard`'s stream: iterate for text, :meth:`deltas` for every piece, ``.result`` at the end."""

    def __init__(self, guard: ContextGuard, messages: Sequence[Message], params: Mapping[str, Any]) -> None:
        super().__init__(guard, messages, params)
        self._open()

    def _open(self) -> None:
        guard: Any = self._guard
        self.prepared = guard.prepare(self._messages, self._params)
        self._stream = guard.provider.stream(self.prepared.messages, **self.prepared.params(self._params))

    def __iter__(self) -> Iterator[str]:
        return (d.text for d in self.deltas() if not d.reasoning)

    def deltas(self) -> Iterator[Delta]:
        retried = False
        while True:
            started = False
            try:
                for delta in self._stream.deltas():
                    started = True
                    yield delta
            except ContextOverflow as exc:
                self._retry(exc, started, retried)
            except InvalidResponse as exc:
                if started or retried or self._stopped:
                    raise
                self._retry(self._why(exc), started, retried)
            else:
                break
            retried = True
            self._open()
        self._finished()

    def _why(self, exc: InvalidResponse) -> ContextOverflow:
        """A stream that ended before its first token without saying why (llama-cpp-python's server answers an
        over-long streamed prompt so: a 200, then nothing): the same request unstreamed, for one token, makes the
        server say whether it was too long, and with which numbers. Anything else: the stream's own error."""
        assert self.prepared is not None
        guard: Any = self._guard
        try:
            guard.provider.chat(self.prepared.messages, **{**self.prepared.params(self._params), "max_tokens": 1})
        except ContextOverflow as overflow:
            return overflow
        raise exc

    def collect(self) -> ChatResult | None:
        for _ in self.deltas():
            pass
        return self.result


class AsyncGuardedStream(_GuardedStreamBase):
    """The async twin of :class:`GuardedStream`."""

    def __init__(
        self, guard: AsyncContextGuard, messages: Sequence[Message], params: Mapping[str, Any], prepared: Prepared
    ) -> None:
        super().__init__(guard, messages, params)
        self.prepared = prepared

    async def _open(self) -> None:
        guard: Any = self._guard
        if self.prepared is None:
            self.prepared = await guard.aprepare(self._messages, self._params)
        self._stream = await guard.provider.stream(self.prepared.messages, **self.prepared.params(self._params))

    async def __aiter__(self) -> AsyncIterator[str]:
        async for d in self.deltas():
            if not d.reasoning:
                yield d.text

    async def deltas(self) -> AsyncIterator[Delta]:
        retried = False
        await self._open()
        while True:
            started = False
            try:
                async for delta in self._stream.deltas():
                    started = True
                    yield delta
            except ContextOverflow as exc:
                await asyncio.to_thread(self._retry, exc, started, retried)
            except InvalidResponse as exc:
                if started or retried or self._stopped:
                    raise
                await asyncio.to_thread(self._retry, await self._why(exc), started, retried)
            else:
                break
            retried = True
            self.prepared = None
            await self._open()
        await asyncio.to_thread(self._finished)

    async def _why(self, exc: InvalidResponse) -> ContextOverflow:
        """:meth:`GuardedStream._why`, awaited."""
        assert self.prepared is not None
        guard: Any = self._guard
        try:
            await guard.provider.chat(self.prepared.messages, **{**self.prepared.params(self._params), "max_tokens": 1})
        except ContextOverflow as overflow:
            return overflow
        raise exc

    async def collect(self) -> ChatResult | None:
        async for _ in self.deltas():
            pass
        return self.result
