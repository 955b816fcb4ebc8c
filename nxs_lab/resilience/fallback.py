"""FallbackChain: try providers in priority order until one answers, in milliseconds.

    >>> chain = nx.FallbackChain([lmstudio, tailnet_box, kimi])          # doctest: +SKIP
    >>> r = chain.chat([{"role": "user", "content": "hi"}])              # doctest: +SKIP
    >>> r.provider, [a.outcome for a in r.attempts]                      # doctest: +SKIP

What happens after each failure is :func:`nxs_lab.resilience.retry.decide`'s call (a pure
table); each provider has a :class:`~nxs_lab.resilience.breaker.CircuitBreaker`, so a dead
primary costs one refused connection and then nothing until its cooldown ends.
A stream that fails before its first token fails over unseen; one that fails
after raises :class:`~nxs_lab.errors.StreamInterrupted` with the partial text,
or, with ``resume_streams=True``, continues on the next provider from it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .._html import rows_table
from ..client import AsyncProvider, Provider
from ..config import LabConfig
from ..context.guard import AsyncContextGuard, ContextGuard
from ..results import Attempt, ChatResult, EmbeddingResult
from ._schedule import Run, estimate_tokens, latest_question
from .breaker import CircuitBreaker
from .chainstream import AsyncChainStream, ChainStream
from .ratelimit import TokenBucket
from .requestlog import RequestLog
from .retry import RetryPolicy

__all__ = ["FallbackChain"]

Messages = Sequence[Mapping[str, Any]]
DEFAULT_POLICY = RetryPolicy()  # frozen: one shared default is safe


class FallbackChain:
    """Providers in priority order, each behind its own circuit breaker.

    Args:
        providers: tried in this order.
        policy: retry patience per provider (see :class:`~nxs_lab.resilience.retry.RetryPolicy`).
        breaker: makes each provider's breaker from its name (e.g. to inject a clock).
        rate_limits: optional ``{provider name: TokenBucket}`` of requests (``rpm`` in the settings).
        token_limits: optional ``{provider name: TokenBucket}`` of model tokens (``tpm``): each call is booked
            as its prompt's estimate and its reply's limit, then corrected by the usage its answer reports.
        max_rate_wait: the longest wait for a rate-limit slot before moving on (seconds); ``rate_waits``:
            ``{provider name: seconds}`` for some providers (``rate_wait`` in the settings).
        log: an optional :class:`~nxs_lab.resilience.requestlog.RequestLog`.
        resume_streams: continue a stream broken after its first token on the next provider,
            with the partial text as an assistant prefix (default: raise ``StreamInterrupted``).
        fit: refit each request to each provider's own window before sending it, and flag
            answers whose prompt the server cut (see :class:`~nxs_lab.context.guard.ContextGuard`).
        guard_options: passed to each provider's ``ContextGuard`` (``calibrate``, ``strategy``, ``cut``, …).
    """

    def __init__(
        self,
        providers: Iterable[Provider],
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        breaker: Callable[[str], CircuitBreaker] | None = None,
        rate_limits: Mapping[str, TokenBucket] | None = None,
        token_limits: Mapping[str, TokenBucket] | None = None,
        max_rate_wait: float = 0.25,
        rate_waits: Mapping[str, float] | None = None,
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
        self._make_breaker = breaker or (lambda name: CircuitBreaker(name=name))
        self.breakers: dict[str, CircuitBreaker] = {p.name: self._make_breaker(p.name) for p in self.providers}
        self.rate_limits = dict(rate_limits or {})
        self.token_limits = dict(token_limits or {})
        self.rate_waits = dict(rate_waits or {})
        for what, given in (("rate_limits", self.rate_limits), ("token_limits", self.token_limits),
                            ("rate_waits", self.rate_waits)):  # fmt: skip
            unknown = set(given) - set(names)
            if unknown:
                raise ValueError(f"{what} name providers not in the chain: {sorted(unknown)}")
        self.max_rate_wait = max_rate_wait
        self.log = log
        self.resume_streams = resume_streams
        self.fit = fit
        self._guard_options = dict(guard_options or {})
        self._guards: dict[str, ContextGuard] = {}
        self._aguards: dict[str, AsyncContextGuard] = {}
        self._aproviders: dict[str, AsyncProvider] = {}
        self._sleep = sleep

    def guard(self, p: Provider) -> ContextGuard:
        """The provider's :class:`ContextGuard` (made on first use)."""
        if p.name not in self._guards:
            self._guards[p.name] = ContextGuard(p, **self._guard_options)
        return self._guards[p.name]

    def aprovider(self, p: Provider) -> AsyncProvider:
        """``p``'s async twin, sharing its catalogue (made on first async call; closed by :meth:`aclose`)."""
        if p.name not in self._aproviders:
            self._aproviders[p.name] = p.to_async()
        return self._aproviders[p.name]

    def aguard(self, p: Provider) -> AsyncContextGuard:
        """The :class:`AsyncContextGuard` of ``p``'s async twin (made on first use)."""
        if p.name not in self._aguards:
            self._aguards[p.name] = AsyncContextGuard(self.aprovider(p), **self._guard_options)
        return self._aguards[p.name]

    def with_providers(self, providers: Iterable[Provider]) -> FallbackChain:
        """A chain of ``providers`` with this chain's settings (policy, log, fitting, streams, waits). A provider
        this chain has (the same object) keeps its breaker, shared, and its rate limit; any other gets a breaker
        made as this chain makes them."""
        providers = list(providers)
        mine = {p.name: p for p in self.providers}
        kept = {p.name for p in providers if mine.get(p.name) is p}
        return FallbackChain(
            providers,
            policy=self.policy,
            breaker=lambda name: self.breakers[name] if name in kept else self._make_breaker(name),
            rate_limits={name: bucket for name, bucket in self.rate_limits.items() if name in kept},
            token_limits={name: bucket for name, bucket in self.token_limits.items() if name in kept},
            max_rate_wait=self.max_rate_wait,
            rate_waits={name: wait for name, wait in self.rate_waits.items() if name in {p.name for p in providers}},
            log=self.log,
            resume_streams=self.resume_streams,
            fit=self.fit,
            guard_options=self._guard_options,
            sleep=self._sleep,
        )

    @classmethod
    def from_config(cls, cfg: LabConfig, **kw: Any) -> FallbackChain:
        """A chain of the configured providers, lowest ``priority`` first, their breakers set by ``cfg.breaker`` and
        each provider's own ``[providers.breaker]`` over it (unless ``breaker=`` is given), each kept to its
        ``rpm`` and ``tpm``, waiting up to its ``rate_wait`` for a slot before moving on."""
        kw.setdefault("breaker", lambda name: CircuitBreaker.from_settings(cfg.breaker_for(name), name))
        providers = cfg.by_priority()
        kw.setdefault("rate_limits", {p.name: TokenBucket.per_minute(p.rpm) for p in providers if p.rpm})
        kw.setdefault("token_limits", {p.name: TokenBucket.per_minute(p.tpm) for p in providers if p.tpm})
        kw.setdefault("rate_waits", {p.name: p.rate_wait for p in providers if p.rate_wait is not None})
        return cls([_cached(Provider.from_config(p), cfg, p) for p in providers], **kw)

    def provider(self, name: str) -> Provider:
        for p in self.providers:
            if p.name == name:
                return p
        raise KeyError(name)

    def state(self) -> list[dict[str, Any]]:
        """Each provider's breaker, in chain order."""
        return [
            {"provider": p.name, "base_url": p.base_url, **self.breakers[p.name].snapshot()} for p in self.providers
        ]

    def status(self, origins: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Each provider checked at once (threads): up or not, latency, its breaker, server kind, the model it
        would use and its window (and where that came from); ``origins`` adds where each provider was configured.
        Never raises: a failure is its row's ``error``."""
        import concurrent.futures

        breakers = {s["provider"]: s for s in self.state()}
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(self.providers))) as pool:
            rows = list(pool.map(lambda p: _status_row(p, breakers[p.name]), self.providers))
        for row in rows:
            row["from"] = (origins or {}).get(row["provider"])
        return rows

    def _repr_html_(self) -> str:
        rows = self.state()
        return rows_table("fallback chain", list(rows[0]), [list(r.values()) for r in rows])

    def __repr__(self) -> str:
        return (
            "FallbackChain("
            + " → ".join(f"{p.name}[{self.breakers[p.name].state.value}]" for p in self.providers)
            + ")"
        )

    def close(self) -> None:
        """Release the providers' connections (the sync ones; use :meth:`aclose` after async calls)."""
        for p in self.providers:
            p.close()

    async def aclose(self) -> None:
        """Release every connection: the async twins made for async calls, and the providers."""
        for ap in self._aproviders.values():
            await ap.aclose()
        self.close()

    def __enter__(self) -> FallbackChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> FallbackChain:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ calls

    def _call(
        self,
        op: str,
        fn: Callable[[Provider], Any],
        model: str | None,
        size: tuple[int, int | None] = (0, None),
        question: str | None = None,
    ) -> tuple[Any, str, tuple[Attempt, ...]]:
        run = Run(self, op, model, tokens=size[0], max_tokens=size[1], question=question)
        for t in run.schedule():
            with run.attempt(t):
                t.pause(self._sleep)
                result = fn(t.provider)
            if not t.failed:
                return result, t.provider.name, run.succeeded(t.provider, t.t0, result)
        raise run.exhausted()

    async def _acall(
        self,
        op: str,
        fn: Callable[[Provider], Any],
        model: str | None,
        size: tuple[int, int | None] = (0, None),
        question: str | None = None,
    ) -> tuple[Any, str, tuple[Attempt, ...]]:
        run = Run(self, op, model, tokens=size[0], max_tokens=size[1], question=question)
        for t in run.schedule():
            with run.attempt(t):
                await t.apause()
                result = await fn(t.provider)
            if not t.failed:
                return result, t.provider.name, run.succeeded(t.provider, t.t0, result)
        raise run.exhausted()

    def chat(self, messages: Messages, **params: Any) -> ChatResult:
        """The first provider's answer that succeeds; ``result.attempts`` says what happened before it."""

        def one(p: Provider) -> ChatResult:
            return self.guard(p).chat(messages, **params) if self.fit else p.chat(messages, **params)

        result, _, attempts = self._call(
            "chat", one, params.get("model"), _size(messages, params), latest_question(messages)
        )
        return dataclasses.replace(result, attempts=attempts)

    async def achat(self, messages: Messages, **params: Any) -> ChatResult:
        async def one(p: Provider) -> ChatResult:
            return await (self.aguard(p) if self.fit else self.aprovider(p)).chat(messages, **params)

        result, _, attempts = await self._acall(
            "chat", one, params.get("model"), _size(messages, params), latest_question(messages)
        )
        return dataclasses.replace(result, attempts=attempts)

    def embed(self, texts: str | Sequence[str], **params: Any) -> EmbeddingResult:
        vectors, name, attempts = self._call(
            "embed", lambda p: p.embed(texts, **params), params.get("model"), (estimate_tokens(texts), None)
        )
        return EmbeddingResult(vectors, name, attempts)

    async def aembed(self, texts: str | Sequence[str], **params: Any) -> EmbeddingResult:
        vectors, name, attempts = await self._acall(
            "embed", lambda p: self.aprovider(p).embed(texts, **params), params.get("model"),
            (estimate_tokens(texts), None),
        )  # fmt: skip
        return EmbeddingResult(vectors, name, attempts)

    def stream(self, messages: Messages, **params: Any) -> ChainStream:
        """Iterate for text deltas from whichever provider answers; ``.result`` at the end."""
        return ChainStream(self, messages, params)

    def astream(self, messages: Messages, **params: Any) -> AsyncChainStream:
        return AsyncChainStream(self, messages, params)


def _cached(provider: Provider, cfg: LabConfig, p: Any) -> Provider:
    """``provider`` with the response cache its settings give it (its own ``cache``, else the ``[cache]`` table's)."""
    from ..client.cache import ResponseCache

    mode = p.cache or cfg.cache.requests
    if mode != "off":
        c = cfg.cache
        provider.cache = ResponseCache.at(c.path, max_age_days=c.max_age_days, max_entries=c.max_entries)
        provider.cache_always = mode == "always"
    return provider


def _size(messages: Messages, params: Mapping[str, Any]) -> tuple[int, int | None]:
    """A chat's booking against a provider's tokens a minute: its prompt's estimate and the reply's limit."""
    limit = params.get("max_tokens")
    return estimate_tokens(messages), limit if isinstance(limit, int) else None


def _status_row(p: Provider, breaker: Mapping[str, Any]) -> dict[str, Any]:
    from ..errors import NxsLabError

    health = p.health()
    row: dict[str, Any] = {
        "provider": p.name, "up": health.ok, "latency_ms": round(health.latency_s * 1000, 1),
        "breaker": breaker.get("state"), "kind": None, "model": None, "window": None, "window_from": None,
        "base_url": health.base_url, "error": health.error,
    }  # fmt: skip
    if health.ok:
        try:
            row["model"] = p.model or p.detect_model()
            row["window"], row["window_from"] = p.context_window_info(row["model"])
            row["kind"] = p.server_kind
        except NxsLabError as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
    return row
