"""One call's path through a fallback chain: which provider to try next, when to wait, what each try came to.

:meth:`Run.schedule` is the whole fallback order as a generator of :class:`Try`; sync and async callers
drive the same schedule, so the policy lives in one place. Every decision comes from
:func:`~nxs_lab.resilience.retry.decide` (a pure table).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..client import counting_resent
from ..errors import AllProvidersFailed
from ..results import Attempt, Outcome
from .retry import Action, Decision, counts_against_breaker, decide, opens_at_once

log = logging.getLogger("nxs_lab.fallback")

if TYPE_CHECKING:
    from ..client import Provider
    from .fallback import FallbackChain

__all__ = ["REPLY_TOKENS_GUESS", "Run", "Try", "estimate_tokens", "latest_question"]

# A reply's tokens booked against a provider's tokens a minute when neither the call nor the provider sets
# max_tokens; the answer's usage corrects the booking once it is known.
REPLY_TOKENS_GUESS = 512


def latest_question(messages: Any) -> str | None:
    """The text of the latest user message (what a request log with content keeps beside the answer)."""
    for m in reversed(list(messages or ())):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):  # parts: the text ones
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content) if content is not None else None
    return None


def estimate_tokens(items: Any) -> int:
    """A quick estimate of a prompt's tokens (messages, or texts to embed): four characters a token, four more a
    message. Only a booking against ``tpm``: the answer's usage corrects it."""
    if isinstance(items, str):
        items = [items]
    total = 0
    for item in items or ():
        content = item.get("content") if isinstance(item, dict) else item
        total += len(str(content or "")) // 4 + 4
    return total


_OUTCOME = {
    Action.NEXT: Outcome.FAILED,
    Action.RETRY: Outcome.RETRIED,
    Action.SKIP: Outcome.SKIPPED_AUTH,
    Action.STOP: Outcome.STOPPED,
}


@dataclasses.dataclass(slots=True)
class Try:
    """One try the schedule hands out: wait ``wait`` seconds, call ``provider``, report the decision.

    Inside :meth:`Run.attempt`, ``t0`` is when the call itself began (after the wait) and ``error`` what it
    failed with (``None`` while it has not)."""

    provider: Provider
    tries: int
    wait: float
    decision: Decision | None = None
    t0: float = 0.0
    error: BaseException | None = None

    def pause(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Wait out :attr:`wait` (a retry's delay, a rate-limit slot); the call's clock starts after it."""
        if self.wait:
            sleep(self.wait)
            self.t0 = time.perf_counter()

    async def apause(self) -> None:
        """:meth:`pause`, awaited."""
        if self.wait:
            await asyncio.sleep(self.wait)
            self.t0 = time.perf_counter()

    @property
    def failed(self) -> bool:
        return self.error is not None


ErrorHandler = Callable[["Run", Try, Exception], None]


class Run:
    """The bookkeeping of one call through the chain: candidates, attempts, breakers, log.

    :meth:`schedule` is the whole fallback order as a generator of :class:`Try`; sync and
    async callers drive the same schedule, so the policy lives in one place.
    """

    def __init__(
        self,
        chain: FallbackChain,
        op: str,
        model: str | None,
        *,
        tokens: int = 0,
        max_tokens: int | None = None,
        question: str | None = None,
    ) -> None:
        self.chain = chain
        self.op = op
        self.model = model
        self.t_call = time.perf_counter()
        self.attempts: list[Attempt] = []
        self.resent = 0  # of the attempt just ended: requests the transport sent again on a fresh connection
        self.last_error: BaseException | None = None
        # What the call is booked as against a provider's tokens a minute: the prompt's estimate (``tokens``) and
        # the reply's limit; corrected by the usage the answer reports (or given back when the call fails).
        self.tokens, self.max_tokens = tokens, max_tokens
        self._booked: dict[str, float] = {}
        self.question = question  # the latest user message: kept with the answer in a request log with content
        self._waited: dict[str, float] = {}

    def _since(self, t: float) -> float:
        return t - self.t_call

    def candidates(self) -> Iterator[Provider]:
        for p in self.chain.providers:
            now = time.perf_counter()
            if not self.chain.breakers[p.name].allow():
                self._add(
                    Attempt(
                        p.name,
                        Outcome.SKIPPED_OPEN,
                        self._since(now),
                        0.0,
                        detail=f"retry in {self.chain.breakers[p.name].retry_in():.2f} s",
                    )
                )
                continue
            yield p

    def schedule(self) -> Iterator[Try]:
        for p in self.candidates():
            tries, delay = 0, 0.0
            while True:
                tries += 1
                wait = self.rate_wait(p)
                if wait is None:
                    break
                t = Try(p, tries, delay + wait)
                yield t  # the caller calls the provider; on failure it sets t.decision
                if t.decision is None or t.decision.action is not Action.RETRY:
                    break
                delay = t.decision.delay

    def _cost(self, p: Provider) -> float:
        reply = 0 if self.op == "embed" else (self.max_tokens or p.max_tokens or REPLY_TOKENS_GUESS)
        return float(self.tokens + reply)

    def rate_wait(self, p: Provider) -> float | None:
        """Seconds to wait for the provider's rate limits (requests and tokens a minute; the slot is booked), or
        ``None`` to move on, said as a ``skipped (rate limit)`` attempt in the result and the log."""
        requests, tokens = self.chain.rate_limits.get(p.name), self.chain.token_limits.get(p.name)
        if requests is None and tokens is None:
            return 0.0
        max_wait = self.chain.rate_waits.get(p.name, self.chain.max_rate_wait)
        wait = requests.reserve(max_wait) if requests is not None else 0.0
        cost = self._cost(p)
        token_wait = tokens.reserve(max_wait, cost) if tokens is not None and wait is not None else 0.0
        if wait is not None and token_wait is None and requests is not None:
            requests.settle(-1)  # the request's slot goes back: the tokens it needs are not there
        if wait is None or token_wait is None:
            self.chain.breakers[p.name].release()
            which, bucket = ("requests", requests) if wait is None else ("tokens", tokens)
            detail = f"{which} a minute: the next slot in {bucket.wait_time():.2f} s" if bucket else which
            self._add(Attempt(p.name, Outcome.SKIPPED_RATE, self._since(time.perf_counter()), 0.0, detail=detail))
            return None
        if tokens is not None:
            self._booked[p.name] = min(cost, float(tokens.burst))
        wait = max(wait, token_wait)
        if wait:
            self._waited[p.name] = self._waited.get(p.name, 0.0) + wait
        return wait

    def _settle(self, p: Provider, result: Any = None) -> None:
        """The provider's token booking corrected by what the answer used, or given back (no answer)."""
        booked, bucket = self._booked.pop(p.name, None), self.chain.token_limits.get(p.name)
        if booked is None or bucket is None:
            return
        usage = getattr(result, "usage", None)
        used = getattr(usage, "total_tokens", None) if usage is not None else None
        if used is None and usage is not None and usage.prompt_tokens is not None:
            used = usage.prompt_tokens + (usage.completion_tokens or 0)
        bucket.settle((used if used is not None else 0) - booked)

    @contextlib.contextmanager
    def attempt(self, t: Try, on_error: ErrorHandler | None = None) -> Iterator[Try]:
        """The one failover shell, around one try's call (sync or async, chat, embed or stream alike).

        An ``Exception`` is the provider's failure: recorded (``on_error``, else :meth:`failed`, which raises
        at once when the table says STOP), kept in ``t.error`` and swallowed, so the caller's loop moves on to
        the schedule's next try. Anything else (Ctrl-C, cancellation, a stream its reader closed) is no verdict
        on the provider: its probe is released and the exception goes through. Wait with :meth:`Try.pause` (or
        :meth:`Try.apause`) inside the block, so an interrupted wait releases the probe too.

            for t in run.schedule():
                with run.attempt(t):
                    t.pause()
                    result = provider_call(t.provider)
                if not t.failed:
                    return result
            raise run.exhausted()
        """
        t.t0, t.error = time.perf_counter(), None
        try:
            with counting_resent() as watch:  # what the transport sent again on a fresh connection
                yield t
        except Exception as exc:  # noqa: BLE001 - classified by decide(); STOP re-raises inside failed()
            t.error, self.resent = exc, watch.resent
            if on_error is not None:
                on_error(self, t, exc)
            else:
                t.decision = self.failed(t.provider, exc, t.tries, t.t0)
        except BaseException:  # Ctrl-C, cancellation, GeneratorExit: settle the provider's probe, let it through
            self.abandoned(t.provider)
            raise
        else:
            self.resent = watch.resent  # for the success line the caller writes next

    def abandoned(self, p: Provider) -> None:
        """The call was stopped from outside (Ctrl-C, cancellation, a stream no longer read): no verdict on
        the provider's health, but a probe it held must be released, or its breaker would stay half-open."""
        self._settle(p)
        self.chain.breakers[p.name].release()

    def failed(self, p: Provider, exc: BaseException, tries: int, t0: float) -> Decision:
        """Record a failure; raise at once when the decision is STOP."""
        t1 = time.perf_counter()
        self._settle(p)
        d = decide(exc, tries, self.chain.policy)
        breaker = self.chain.breakers[p.name]
        if counts_against_breaker(exc):
            breaker.record_failure(open_now=opens_at_once(exc))
        else:
            breaker.release()
        self._add(
            Attempt(
                p.name,
                _OUTCOME[d.action],
                self._since(t0),
                t1 - t0,
                error=type(exc).__name__,
                status=getattr(exc, "status", None),
                detail=d.reason,
            )
        )
        self.last_error = exc
        if d.action in (Action.NEXT, Action.SKIP):
            status = getattr(exc, "status", None)
            log.info(
                "failover: %s %s failed with %s%s after %.0f ms; %s",
                p.name, self.op, type(exc).__name__, f" (HTTP {status})" if status else "", (t1 - t0) * 1000,
                d.reason,
            )  # fmt: skip
        if d.action is Action.STOP:
            exc.attempts = tuple(self.attempts)  # type: ignore[attr-defined]
            raise exc
        return d

    def succeeded(self, p: Provider, t0: float, result: Any = None) -> tuple[Attempt, ...]:
        t1 = time.perf_counter()
        self.chain.breakers[p.name].record_success()
        self._settle(p, result)
        waited = self._waited.pop(p.name, 0.0)
        detail = f"waited {waited:.2f} s for its rate limit" if waited else ""
        self._add(Attempt(p.name, Outcome.OK, self._since(t0), t1 - t0, detail=detail), result)
        return tuple(self.attempts)

    def exhausted(self) -> AllProvidersFailed:
        return AllProvidersFailed(tuple(self.attempts), self.last_error)

    def _add(self, attempt: Attempt, result: Any = None) -> None:
        self.attempts.append(attempt)
        resent, self.resent = self.resent, 0
        log = self.chain.log
        if log is not None:
            event = {"op": self.op, **attempt.as_row(), "model": getattr(result, "model", None) or self.model}
            if resent:  # a kept-alive connection the server had closed: sent again at once, not a failure
                event["resent_on_fresh_connection"] = resent
            usage = getattr(result, "usage", None)
            if usage is not None:
                event.update(
                    prompt_tokens=usage.prompt_tokens,
                    cached_tokens=usage.cached_tokens,
                    completion_tokens=usage.completion_tokens,
                )
            text = getattr(result, "text", None)
            log.record(event, content={"question": self.question, "answer": text} if text is not None else None)
