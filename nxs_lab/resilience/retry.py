"""What to do after a failed attempt: a pure decision, tested by table.

:func:`decide` looks only at the error and how many times this provider has
been tried for this call, and answers with an :class:`Action`:

========================  ==================================================  ==============
error                     why                                                 action
========================  ==================================================  ==============
ConnectionFailed          refused, DNS, unreachable: another host may answer  NEXT
ResponseTimeout           hung or stalled                                     NEXT
ClientBusy                the kit's own pool had no free connection in time   NEXT (no breaker)
ServerError (5xx)         503 with a short Retry-After and tries left         RETRY (delay)
                          otherwise                                           NEXT
RateLimited (429)         Retry-After within the budget and tries left        RETRY (delay)
                          otherwise                                           NEXT
ModelNotFound             this server lacks the model; others may have it     NEXT
ModelNotAllowed           this provider's allowlist refuses it                NEXT
UnsupportedEndpoint       this server lacks the API                           NEXT
RequestRefused            405, 410, 451 …: this server will not, another may  NEXT
InvalidResponse           garbage, or a redirect (captive portal, proxy)      NEXT
ContextOverflow           a provider with a larger window may take it         NEXT
BudgetExceeded            (fit=True) this provider's window is too small      NEXT
AuthenticationFailed      this provider's key is wrong: skip it, say so       SKIP
StreamInterrupted         text was already shown; retrying would repeat it    STOP
BadRequest (400 / 422)    the request itself is wrong everywhere              STOP
anything else             a bug or bad input, not a provider failure          STOP
========================  ==================================================  ==============
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .. import errors as E

__all__ = ["Action", "Decision", "RetryPolicy", "counts_against_breaker", "decide", "opens_at_once"]


class Action(str, enum.Enum):
    NEXT = "next"  # move on to the next provider at once
    RETRY = "retry"  # try the same provider again after `delay`
    SKIP = "skip"  # this provider cannot serve us (auth): move on, and say so
    STOP = "stop"  # every provider would fail the same way: raise now


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How much patience one provider gets within one call.

    ``max_retries``: extra tries on the same provider (only for 429 / 503 that say when to come back).
    ``max_retry_after``: the longest Retry-After worth waiting for; a longer one moves on instead.
    ``default_retry_after``: the wait for a 503 / 429 that gives no Retry-After (``None``: move on).
    """

    max_retries: int = 1
    max_retry_after: float = 2.0
    default_retry_after: float | None = None


def decide(exc: BaseException, tries: int, policy: RetryPolicy = RetryPolicy()) -> Decision:
    """The action after ``exc`` on the ``tries``-th try (1-based) of one provider."""
    name = type(exc).__name__
    if isinstance(exc, E.StreamInterrupted):
        return Decision(Action.STOP, "the stream broke after text was delivered")
    if isinstance(exc, E.AuthenticationFailed):
        return Decision(Action.SKIP, f"credentials refused (HTTP {exc.status})")
    if isinstance(exc, (E.RateLimited, E.ServerError)):
        wait = exc.retry_after
        if wait is None:
            wait = policy.default_retry_after
        retryable = isinstance(exc, E.RateLimited) or exc.status == 503
        if retryable and wait is not None and wait <= policy.max_retry_after and tries <= policy.max_retries:
            return Decision(Action.RETRY, f"{name}: retry after {wait:g} s", delay=wait)
        why = "" if wait is None else f" (Retry-After {wait:g} s)"
        return Decision(Action.NEXT, f"{name}{why}")
    if isinstance(exc, (E.ContextOverflow, E.BudgetExceeded)):
        return Decision(Action.NEXT, "the prompt does not fit this model's window")
    if isinstance(exc, E.BadRequest):
        return Decision(Action.STOP, "the request itself was rejected")
    if isinstance(exc, (E.ProviderError, E.ModelNotAllowed)):
        return Decision(Action.NEXT, name)
    return Decision(Action.STOP, f"{name} is not a provider failure")


def counts_against_breaker(exc: BaseException) -> bool:
    """Failures that say the provider is unhealthy. A 429 means alive-but-busy; a 400 is our fault."""
    if isinstance(
        exc,
        (
            E.RateLimited, E.BadRequest, E.RequestRefused, E.ModelNotAllowed, E.ModelNotFound, E.StreamInterrupted,
            E.ClientBusy,
        ),
    ):  # fmt: skip
        return False
    return isinstance(exc, E.ProviderError)


def opens_at_once(exc: BaseException) -> bool:
    """A refused or unreachable single endpoint is down: no point in waiting for more failures."""
    return isinstance(exc, E.ConnectionFailed)
