"""Streams through a fallback chain: deltas from the first provider that streams, failing over before the first
token and, after it, either raising :class:`~nxs_lab.errors.StreamInterrupted` or resuming on the next provider."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import StreamInterrupted
from ..results import Attempt, ChatResult, Outcome
from ._schedule import Run, Try, estimate_tokens, latest_question

if TYPE_CHECKING:
    from ..client import Provider
    from ..client.reasoning import Delta
    from .fallback import FallbackChain, Messages

__all__ = ["CONTINUE_PROMPT", "AsyncChainStream", "ChainStream"]

CONTINUE_PROMPT = "Continue exactly where your previous message stopped, without repeating it."


class _ChainStreamBase:
    def __init__(self, chain: FallbackChain, messages: Messages, params: dict[str, Any]) -> None:
        self.chain = chain
        self.messages = list(messages)
        self.params = params
        self.result: ChatResult | None = None
        self.prefix = ""  # text delivered by providers that broke mid-stream (resume mode)
        self.resumed_from: list[str] = []
        self._active: Any = None  # the provider stream being read
        self._stopped = False

    def _run(self) -> Run:
        limit = self.params.get("max_tokens")
        return Run(self.chain, "stream", self.params.get("model"), tokens=estimate_tokens(self.messages),
                   max_tokens=limit if isinstance(limit, int) else None,
                   question=latest_question(self.messages))  # fmt: skip

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` ended this stream (``result`` is then ``None``)."""
        return self._stopped

    def stop(self) -> None:
        """End the stream now, from any thread (a Stop button): the provider's stream is closed at once, even
        while its server is silent, and no other provider is tried."""
        self._stopped = True
        active = self._active
        if active is not None:
            active.stop()

    def _collected(self) -> ChatResult:
        if self.result is None:
            raise StreamInterrupted("the stream was stopped before it finished", partial_text=self.text_so_far)
        return self.result

    @property
    def text_so_far(self) -> str:
        active = self._active
        return self.prefix + (active.text_so_far if active is not None else "")

    def _ended_by_stop(self, run: Run, t: Try, s: Any) -> bool:
        """After a provider's stream ended: was it stopped? Then its probe (if it was one) is given back."""
        if not (self._stopped or getattr(s, "stopped", False)):
            return False
        self._stopped = True
        run.abandoned(t.provider)
        return True

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        return self.result.attempts if self.result is not None else ()

    def _messages_for_next(self) -> list[Mapping[str, Any]]:
        if not self.prefix:
            return self.messages
        return [
            *self.messages,
            {"role": "assistant", "content": self.prefix},
            {"role": "user", "content": CONTINUE_PROMPT},
        ]

    def _on_interrupt(self, run: Run, p: Provider, exc: StreamInterrupted, tries: int, t0: float) -> None:
        """Resume mode: keep the partial text and move on; otherwise STOP (raises)."""
        if not self.chain.resume_streams:
            run.failed(p, exc, tries, t0)
            return
        self.chain.breakers[p.name].record_failure(open_now=False)
        run._add(
            Attempt(
                p.name,
                Outcome.FAILED,
                t0 - run.t_call,
                time.perf_counter() - t0,
                error=type(exc).__name__,
                status=exc.status,
                detail=f"resuming after {len(exc.partial_text)} chars",
            )
        )
        run.last_error = exc
        self.prefix += exc.partial_text
        self.resumed_from.append(p.name)

    def _on_error(self, run: Run, t: Try, exc: Exception) -> None:
        """A broken stream: resume or stop (see :meth:`_on_interrupt`); any other failure as the table says."""
        if isinstance(exc, StreamInterrupted):
            self._on_interrupt(run, t.provider, exc, t.tries, t.t0)
        else:
            t.decision = run.failed(t.provider, exc, t.tries, t.t0)

    def _on_done(self, run: Run, t: Try, result: ChatResult | None) -> None:
        """The stream ended with its finish reason: record the success."""
        assert result is not None
        self._final(result, run.succeeded(t.provider, t.t0, result))

    def _final(self, result: ChatResult, attempts: tuple[Attempt, ...]) -> ChatResult:
        if self.prefix:
            result = dataclasses.replace(result, text=self.prefix + result.text)
        self.result = dataclasses.replace(result, attempts=attempts)
        return self.result


class ChainStream(_ChainStreamBase):
    """Deltas from the first provider that streams; ``.result`` (with ``.attempts``) after the end."""

    def __iter__(self) -> Iterator[str]:
        return (d.text for d in self.deltas() if not d.reasoning)

    def deltas(self) -> Iterator[Delta]:
        """Every delta, thinking and answer alike (see :meth:`~nxs_lab.client.streaming.ChatStream.deltas`)."""
        run = self._run()
        for t in run.schedule():
            if self._stopped:
                run.abandoned(t.provider)
                return
            with run.attempt(t, self._on_error):
                t.pause(self.chain._sleep)
                s: Any
                if self.chain.fit:  # the guard's stream finishes its result itself
                    s = self.chain.guard(t.provider).stream(self._messages_for_next(), **self.params)
                else:
                    s = t.provider.stream(self._messages_for_next(), **self.params)
                self._active = s
                yield from s.deltas()
            if t.failed:
                continue
            if not self._ended_by_stop(run, t, s):
                self._on_done(run, t, s.result)
            return
        raise run.exhausted()

    def collect(self) -> ChatResult:
        for _ in self:
            pass
        return self._collected()


class AsyncChainStream(_ChainStreamBase):
    """The async twin of :class:`ChainStream`."""

    async def __aiter__(self) -> AsyncIterator[str]:
        async for d in self.deltas():
            if not d.reasoning:
                yield d.text

    async def deltas(self) -> AsyncIterator[Delta]:
        """Every delta, thinking and answer alike."""
        run = self._run()
        for t in run.schedule():
            if self._stopped:
                run.abandoned(t.provider)
                return
            with run.attempt(t, self._on_error):
                await t.apause()
                s: Any
                if self.chain.fit:  # the guard's stream finishes its result itself
                    s = await self.chain.aguard(t.provider).stream(self._messages_for_next(), **self.params)
                else:
                    s = await self.chain.aprovider(t.provider).stream(self._messages_for_next(), **self.params)
                self._active = s
                async for delta in s.deltas():
                    yield delta
            if t.failed:
                continue
            if not self._ended_by_stop(run, t, s):
                self._on_done(run, t, s.result)
            return
        raise run.exhausted()

    async def collect(self) -> ChatResult:
        async for _ in self:
            pass
        return self._collected()
