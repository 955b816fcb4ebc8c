"""ContextGuard: one provider's requests fitted to its own window, and its answers checked for silent truncation.

    >>> guard = ContextGuard(provider, calibrate=True)          # doctest: +SKIP
    >>> r = guard.chat(long_history, max_tokens=256)            # doctest: +SKIP
    >>> r.dropped_messages, r.prompt_tokens_sent, r.prompt_truncated   # doctest: +SKIP

A :class:`~nxs_lab.FallbackChain` built with ``fit=True`` keeps one guard per
provider, so a fallback to a smaller model gets a trimmed payload and one to a
larger model gets the full history back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ContextOverflow
from ..results import ChatResult
from ..tokens.truncation import check_truncation
from .budget import ContextBudget, Summarizer
from .counting import CountMethod, TokenCount, TokenCounter, ToolSpec, counter_for, tool_spec

if TYPE_CHECKING:
    from ..client import AsyncChatStream, AsyncProvider, BaseProvider, ChatStream, Provider

log = logging.getLogger("nxs_lab.context")

__all__ = ["AsyncContextGuard", "ContextGuard", "Prepared"]

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
    ) -> None:
        self.provider = provider
        self._counter = counter
        self._calibrate = calibrate
        self.default_max_tokens = default_max_tokens
        self.strategy = strategy
        self.summarizer = summarizer

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
            fit = budget.fit(messages, self.counter, strategy=self.strategy, summarizer=self.summarizer, tools=tools)
            msgs, count, dropped = fit.messages, fit.count, len(fit.dropped)
        learns = tools is not None and count.method is not CountMethod.SERVER_TEMPLATE
        return Prepared(msgs, count, dropped, budget, source, tools, self.counter if learns else None)

    def finish(self, result: ChatResult, prepared: Prepared) -> ChatResult:
        """Same as ``prepared.finish(result)``."""
        return prepared.finish(result)

    def learned(self, exc: ContextOverflow, prepared: Prepared, params: Mapping[str, Any]) -> bool:
        """After an overflow: did the server state a window other than the one fitted to? Then it is remembered
        for this provider and model, and the caller refits and retries once."""
        window = exc.context_window
        if window is None or (prepared.budget is not None and prepared.budget.context_window == window):
            return False
        learned = bool(self.provider.catalog.learn_window(params.get("model"), window))
        if learned:
            log.info("%s refused the request as too long and said its window is %d: refitted and sent again",
                     self.provider.name, window)  # fmt: skip
        return learned


class ContextGuard(_GuardBase):
    """Fits requests to ``provider``'s window and flags answers whose prompt the server cut.

    Args:
        counter: the token counter (default: the best available, see :func:`~nxs_lab.context.counting.counter_for`).
        calibrate: how the chat template's overhead is found (see :func:`~nxs_lab.context.counting.counter_for`):
            by default measured once per provider and model for local and LAN servers.
        default_max_tokens: the output reserve when a call gives no ``max_tokens`` (capped at a quarter
            of the window).
        strategy, summarizer: passed to :meth:`ContextBudget.fit`.
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
                raise
            prepared = self.prepare(messages, params)
            result = self.provider.chat(prepared.messages, **prepared.params(params))
        return self.finish(result, prepared)

    def stream(self, messages: Sequence[Message], **params: Any) -> tuple[ChatStream, Prepared]:
        """A stream of the fitted request; pass its ``.result`` and the :class:`Prepared` to :meth:`finish`."""
        prepared = self.prepare(messages, params)
        return self.provider.stream(prepared.messages, **prepared.params(params)), prepared


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
                raise
            prepared = await self.aprepare(messages, params)
            result = await self.provider.chat(prepared.messages, **prepared.params(params))
        return self.finish(result, prepared)

    async def stream(self, messages: Sequence[Message], **params: Any) -> tuple[AsyncChatStream, Prepared]:
        prepared = await self.aprepare(messages, params)
        return await self.provider.stream(prepared.messages, **prepared.params(params)), prepared
