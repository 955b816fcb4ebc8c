"""FallbackChain: try providers in priority order until one answers, in milliseconds.

    >>> chain = nx.FallbackChain([lmstudio, tailnet_box, kimi])          # doctest: +SKIP
    >>> r = chain.chat([{"role": "user", "content": "hi"}])              # doctest: +SKIP
    >>> r.provider, [a.outcome for a in r.attempts]                      # doctest: +SKIP

What happens after each failure is :func:`nxs_lab.retry.decide`'s call (a pure
table); each provider has a :class:`~nxs_lab.breaker.CircuitBreaker`, so a dead
primary costs one refused connection and then nothing until its cooldown ends.
A stream that fails before its first token fails over unseen; one that fails
after raises :class:`~nxs_lab.errors.StreamInterrupted` with the partial text,
or, with ``resume_streams=True``, continues on the next provider from it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ._html import rows_table
from .breaker import CircuitBreaker
from .config import LabConfig
from .errors import AllProvidersFailed, StreamInterrupted
from .guard import ContextGuard
from .providers import Provider
from .ratelimit import TokenBucket
from .requestlog import RequestLog
from .results import Attempt, ChatResult, EmbeddingResult, Outcome
from .retry import Action, Decision, RetryPolicy, counts_against_breaker, decide, opens_at_once

__all__ = ["ChainStream", "FallbackChain"]

Messages = Sequence[Mapping[str, Any]]
_OUTCOME = {Action.NEXT: Outcome.FAILED, Action.RETRY: Outcome.RETRIED, Action.SKIP: Outcome.SKIPPED_AUTH,
            Action.STOP: Outcome.STOPPED}
CONTINUE_PROMPT = "Continue exactly where your previous message stopped, without repeating it."


@dataclasses.dataclass(slots=True)
class _Try:
    """One try the schedule hands out: wait ``wait`` seconds, call ``provider``, report the decision."""

    provider: Provider
    tries: int
    wait: float
    decision: Decision | None = None


class _Run:
    """The bookkeeping of one call through the chain: candidates, attempts, breakers, log.

    :meth:`schedule` is the whole fallback order as a generator of :class:`_Try`; sync and
    async callers drive the same schedule, so the policy lives in one place.
    """

    def __init__(self, chain: FallbackChain, op: str, model: str | None) -> None:
        self.chain = chain
        self.op = op
        self.model = model
        self.t_call = time.perf_counter()
        self.attempts: list[Attempt] = []
        self.last_error: BaseException | None = None

    def _since(self, t: float) -> float:
        return t - self.t_call

    def candidates(self) -> Iterator[Provider]:
        for p in self.chain.providers:
            now = time.perf_counter()
            if not self.chain.breakers[p.name].allow():
                self._add(Attempt(p.name, Outcome.SKIPPED_OPEN, self._since(now), 0.0,
                                  detail=f"retry in {self.chain.breakers[p.name].retry_in():.2f} s"))
                continue
            yield p

    def schedule(self) -> Iterator[_Try]:
        for p in self.candidates():
            tries, delay = 0, 0.0
            while True:
                tries += 1
                wait = self.rate_wait(p)
                if wait is None:
                    break
                t = _Try(p, tries, delay + wait)
                yield t  # the caller calls the provider; on failure it sets t.decision
                if t.decision is None or t.decision.action is not Action.RETRY:
                    break
                delay = t.decision.delay

    def rate_wait(self, p: Provider) -> float | None:
        """Seconds to wait for the provider's rate limit, or ``None`` to move on (wait too long)."""
        bucket = self.chain.rate_limits.get(p.name)
        if bucket is None or bucket.try_acquire():
            return 0.0
        wait = bucket.wait_time()
        if wait > self.chain.max_rate_wait:
            self.chain.breakers[p.name].release()
            now = time.perf_counter()
            self._add(Attempt(p.name, Outcome.SKIPPED_RATE, self._since(now), 0.0, detail=f"next slot in {wait:.2f} s"))
            return None
        return wait

    def failed(self, p: Provider, exc: BaseException, tries: int, t0: float) -> Decision:
        """Record a failure; raise at once when the decision is STOP."""
        t1 = time.perf_counter()
        d = decide(exc, tries, self.chain.policy)
        breaker = self.chain.breakers[p.name]
        if counts_against_breaker(exc):
            breaker.record_failure(open_now=opens_at_once(exc))
        else:
            breaker.release()
        self._add(Attempt(p.name, _OUTCOME[d.action], self._since(t0), t1 - t0, error=type(exc).__name__,
                          status=getattr(exc, "status", None), detail=d.reason))
        self.last_error = exc
        if d.action is Action.STOP:
            exc.attempts = tuple(self.attempts)  # type: ignore[attr-defined]
            raise exc
        return d

    def succeeded(self, p: Provider, t0: float, result: Any = None) -> tuple[Attempt, ...]:
        t1 = time.perf_counter()
        self.chain.breakers[p.name].record_success()
        self._add(Attempt(p.name, Outcome.OK, self._since(t0), t1 - t0), result)
        return tuple(self.attempts)

    def exhausted(self) -> AllProvidersFailed:
        return AllProvidersFailed(tuple(self.attempts), self.last_error)

    def _add(self, attempt: Attempt, result: Any = None) -> None:
        self.attempts.append(attempt)
        log = self.chain.log
        if log is not None:
            event = {"op": self.op, **attempt.as_row(), "model": getattr(result, "model", None) or self.model}
            usage = getattr(result, "usage", None)
            if usage is not None:
                event.update(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)
            log.record(event, content=getattr(result, "text", None))


class FallbackChain:
    """Providers in priority order, each behind its own circuit breaker.

    Args:
        providers: tried in this order.
        policy: retry patience per provider (see :class:`~nxs_lab.retry.RetryPolicy`).
        breaker: makes each provider's breaker from its name (e.g. to inject a clock).
        rate_limits: optional ``{provider name: TokenBucket}``.
        max_rate_wait: the longest wait for a rate-limit slot before moving on (seconds).
        log: an optional :class:`~nxs_lab.requestlog.RequestLog`.
        resume_streams: continue a stream broken after its first token on the next provider,
            with the partial text as an assistant prefix (default: raise ``StreamInterrupted``).
        fit: refit each request to each provider's own window before sending it, and flag
            answers whose prompt the server cut (see :class:`~nxs_lab.guard.ContextGuard`).
        guard_options: passed to each provider's ``ContextGuard`` (``calibrate``, ``strategy``, …).
    """

    def __init__(
        self,
        providers: Iterable[Provider],
        *,
        policy: RetryPolicy = RetryPolicy(),
        breaker: Callable[[str], CircuitBreaker] | None = None,
        rate_limits: Mapping[str, TokenBucket] | None = None,
        max_rate_wait: float = 0.25,
        log: RequestLog | None = None,
        resume_streams: bool = False,
        fit: bool = False,
        guard_options: Mapping[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.providers = list(providers)
        if not self.providers:
            raise ValueError("a FallbackChain needs at least one provider")
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must be unique in a chain, got {names}")
        self.policy = policy
        make = breaker or (lambda _name: CircuitBreaker())
        self.breakers: dict[str, CircuitBreaker] = {p.name: make(p.name) for p in self.providers}
        self.rate_limits = dict(rate_limits or {})
        unknown = set(self.rate_limits) - set(names)
        if unknown:
            raise ValueError(f"rate_limits name providers not in the chain: {sorted(unknown)}")
        self.max_rate_wait = max_rate_wait
        self.log = log
        self.resume_streams = resume_streams
        self.fit = fit
        self._guard_options = dict(guard_options or {})
        self._guards: dict[str, ContextGuard] = {}
        self._sleep = sleep

    def guard(self, p: Provider) -> ContextGuard:
        """The provider's :class:`ContextGuard` (made on first use)."""
        if p.name not in self._guards:
            self._guards[p.name] = ContextGuard(p, **self._guard_options)
        return self._guards[p.name]

    @classmethod
    def from_config(cls, cfg: LabConfig, **kw: Any) -> FallbackChain:
        """A chain of the configured providers, lowest ``priority`` first."""
        return cls([Provider.from_config(p) for p in cfg.by_priority()], **kw)

    def provider(self, name: str) -> Provider:
        for p in self.providers:
            if p.name == name:
                return p
        raise KeyError(name)

    def state(self) -> list[dict[str, Any]]:
        """Each provider's breaker, in chain order."""
        return [{"provider": p.name, "base_url": p.base_url, **self.breakers[p.name].snapshot()} for p in self.providers]

    def _repr_html_(self) -> str:
        rows = self.state()
        return rows_table("fallback chain", list(rows[0]), [list(r.values()) for r in rows])

    def __repr__(self) -> str:
        return "FallbackChain(" + " → ".join(f"{p.name}[{self.breakers[p.name].state.value}]" for p in self.providers) + ")"

    def close(self) -> None:
        for p in self.providers:
            p.close()

    async def aclose(self) -> None:
        for p in self.providers:
            await p.aclose()

    # ------------------------------------------------------------------ calls

    def _call(self, op: str, fn: Callable[[Provider], Any], model: str | None) -> tuple[Any, str, tuple[Attempt, ...]]:
        run = _Run(self, op, model)
        for t in run.schedule():
            if t.wait:
                self._sleep(t.wait)
            t0 = time.perf_counter()
            try:
                result = fn(t.provider)
            except Exception as exc:  # noqa: BLE001 - classified by decide(); STOP re-raises inside failed()
                t.decision = run.failed(t.provider, exc, t.tries, t0)
                continue
            return result, t.provider.name, run.succeeded(t.provider, t0, result)
        raise run.exhausted()

    async def _acall(self, op: str, fn: Callable[[Provider], Any], model: str | None) -> tuple[Any, str, tuple[Attempt, ...]]:
        run = _Run(self, op, model)
        for t in run.schedule():
            if t.wait:
                await asyncio.sleep(t.wait)
            t0 = time.perf_counter()
            try:
                result = await fn(t.provider)
            except Exception as exc:  # noqa: BLE001 - classified by decide(); STOP re-raises inside failed()
                t.decision = run.failed(t.provider, exc, t.tries, t0)
                continue
            return result, t.provider.name, run.succeeded(t.provider, t0, result)
        raise run.exhausted()

    def chat(self, messages: Messages, **params: Any) -> ChatResult:
        """The first provider's answer that succeeds; ``result.attempts`` says what happened before it."""

        def one(p: Provider) -> ChatResult:
            return self.guard(p).chat(messages, **params) if self.fit else p.chat(messages, **params)

        result, _, attempts = self._call("chat", one, params.get("model"))
        return dataclasses.replace(result, attempts=attempts)

    async def achat(self, messages: Messages, **params: Any) -> ChatResult:
        async def one(p: Provider) -> ChatResult:
            if not self.fit:
                return await p.achat(messages, **params)
            guard = self.guard(p)
            prepared = await asyncio.to_thread(guard.prepare, messages, params)  # counting may call the server
            return guard.finish(await p.achat(prepared.messages, **prepared.params(params)), prepared)

        result, _, attempts = await self._acall("chat", one, params.get("model"))
        return dataclasses.replace(result, attempts=attempts)

    def embed(self, texts: str | Sequence[str], **params: Any) -> EmbeddingResult:
        vectors, name, attempts = self._call("embed", lambda p: p.embed(texts, **params), params.get("model"))
        return EmbeddingResult(vectors, name, attempts)

    async def aembed(self, texts: str | Sequence[str], **params: Any) -> EmbeddingResult:
        vectors, name, attempts = await self._acall("embed", lambda p: p.aembed(texts, **params), params.get("model"))
        return EmbeddingResult(vectors, name, attempts)

    def stream(self, messages: Messages, **params: Any) -> ChainStream:
        """Iterate for text deltas from whichever provider answers; ``.result`` at the end."""
        return ChainStream(self, messages, params)

    def astream(self, messages: Messages, **params: Any) -> AsyncChainStream:
        return AsyncChainStream(self, messages, params)


class _ChainStreamBase:
    def __init__(self, chain: FallbackChain, messages: Messages, params: dict[str, Any]) -> None:
        self.chain = chain
        self.messages = list(messages)
        self.params = params
        self.result: ChatResult | None = None
        self.prefix = ""  # text delivered by providers that broke mid-stream (resume mode)
        self.resumed_from: list[str] = []

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        return self.result.attempts if self.result is not None else ()

    def _messages_for_next(self) -> list[Mapping[str, Any]]:
        if not self.prefix:
            return self.messages
        return [*self.messages, {"role": "assistant", "content": self.prefix}, {"role": "user", "content": CONTINUE_PROMPT}]

    def _on_interrupt(self, run: _Run, p: Provider, exc: StreamInterrupted, tries: int, t0: float) -> None:
        """Resume mode: keep the partial text and move on; otherwise STOP (raises)."""
        if not self.chain.resume_streams:
            run.failed(p, exc, tries, t0)
            return
        self.chain.breakers[p.name].record_failure(open_now=False)
        run._add(Attempt(p.name, Outcome.FAILED, t0 - run.t_call, time.perf_counter() - t0, error=type(exc).__name__,
                         status=exc.status, detail=f"resuming after {len(exc.partial_text)} chars"))
        run.last_error = exc
        self.prefix += exc.partial_text
        self.resumed_from.append(p.name)

    def _final(self, result: ChatResult, attempts: tuple[Attempt, ...]) -> ChatResult:
        if self.prefix:
            result = dataclasses.replace(result, text=self.prefix + result.text)
        self.result = dataclasses.replace(result, attempts=attempts)
        return self.result


class ChainStream(_ChainStreamBase):
    """Deltas from the first provider that streams; ``.result`` (with ``.attempts``) after the end."""

    def __iter__(self) -> Iterator[str]:
        run = _Run(self.chain, "stream", self.params.get("model"))
        for t in run.schedule():
            if t.wait:
                self.chain._sleep(t.wait)
            t0 = time.perf_counter()
            try:
                if self.chain.fit:
                    s, prepared = self.chain.guard(t.provider).stream(self._messages_for_next(), **self.params)
                else:
                    s, prepared = t.provider.stream(self._messages_for_next(), **self.params), None
                yield from s
            except StreamInterrupted as exc:
                self._on_interrupt(run, t.provider, exc, t.tries, t0)
                continue
            except Exception as exc:  # noqa: BLE001 - classified by decide(); STOP re-raises inside failed()
                t.decision = run.failed(t.provider, exc, t.tries, t0)
                continue
            assert s.result is not None
            result = self.chain.guard(t.provider).finish(s.result, prepared) if prepared is not None else s.result
            self._final(result, run.succeeded(t.provider, t0, result))
            return
        raise run.exhausted()

    def collect(self) -> ChatResult:
        for _ in self:
            pass
        assert self.result is not None
        return self.result


class AsyncChainStream(_ChainStreamBase):
    """The async twin of :class:`ChainStream`."""

    async def __aiter__(self) -> AsyncIterator[str]:
        run = _Run(self.chain, "stream", self.params.get("model"))
        for t in run.schedule():
            if t.wait:
                await asyncio.sleep(t.wait)
            t0 = time.perf_counter()
            try:
                prepared = None
                if self.chain.fit:
                    guard = self.chain.guard(t.provider)
                    prepared = await asyncio.to_thread(guard.prepare, self._messages_for_next(), self.params)
                    s = await t.provider.astream(prepared.messages, **prepared.params(self.params))
                else:
                    s = await t.provider.astream(self._messages_for_next(), **self.params)
                async for delta in s:
                    yield delta
            except StreamInterrupted as exc:
                self._on_interrupt(run, t.provider, exc, t.tries, t0)
                continue
            except Exception as exc:  # noqa: BLE001 - classified by decide(); STOP re-raises inside failed()
                t.decision = run.failed(t.provider, exc, t.tries, t0)
                continue
            assert s.result is not None
            result = self.chain.guard(t.provider).finish(s.result, prepared) if prepared is not None else s.result
            self._final(result, run.succeeded(t.provider, t0, result))
            return
        raise run.exhausted()

    async def collect(self) -> ChatResult:
        async for _ in self:
            pass
        assert self.result is not None
        return self.result
