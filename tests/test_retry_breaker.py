"""Pure decisions, tested by table: retry classification, the circuit breaker with a fake clock, the token bucket."""

from __future__ import annotations

import pytest

import nxs_lab as nx
from nxs_lab import errors as E
from nxs_lab.resilience.retry import Action, counts_against_breaker, decide, opens_at_once


def err(cls, *a, **kw):
    return cls("x", *a, provider="p", base_url="http://h/v1", **kw)


POLICY = nx.RetryPolicy(max_retries=1, max_retry_after=2.0)

TABLE = [
    (err(E.ConnectionFailed), 1, Action.NEXT),
    (err(E.ConnectTimeout), 1, Action.NEXT),
    (err(E.ResponseTimeout), 1, Action.NEXT),
    (err(E.ServerError, status=500), 1, Action.NEXT),
    (err(E.ServerError, status=503, retry_after=0.5), 1, Action.RETRY),
    (err(E.ServerError, status=503, retry_after=0.5), 2, Action.NEXT),  # tries used up
    (err(E.ServerError, status=503, retry_after=30.0), 1, Action.NEXT),  # too long to wait
    (err(E.ServerError, status=500, retry_after=0.5), 1, Action.NEXT),  # only 503 says "come back"
    (err(E.ServerError, status=503), 1, Action.NEXT),  # no Retry-After, no default
    (err(E.RateLimited, status=429, retry_after=1.0), 1, Action.RETRY),
    (err(E.RateLimited, status=429, retry_after=60.0), 1, Action.NEXT),
    (err(E.RateLimited, status=429), 1, Action.NEXT),
    (err(E.AuthenticationFailed, status=401), 1, Action.SKIP),
    (err(E.AuthenticationFailed, status=403), 1, Action.SKIP),
    (err(E.ModelNotFound, status=404), 1, Action.NEXT),
    (err(E.UnsupportedEndpoint, status=404), 1, Action.NEXT),
    (err(E.InvalidResponse, status=200), 1, Action.NEXT),
    (err(E.ContextOverflow, status=400), 1, Action.NEXT),
    (err(E.BadRequest, status=400), 1, Action.STOP),
    (err(E.BadRequest, status=422), 1, Action.STOP),
    (err(E.StreamInterrupted, partial_text="abc"), 1, Action.STOP),
    (E.ModelNotAllowed("p", "m", ("a",)), 1, Action.NEXT),
    (TypeError("messages must be a list"), 1, Action.STOP),
]


@pytest.mark.parametrize(
    ("exc", "tries", "action"), TABLE, ids=[f"{type(t[0]).__name__}-{i}" for i, t in enumerate(TABLE)]
)
def test_decision_table(exc, tries, action) -> None:
    d = decide(exc, tries, POLICY)
    assert d.action is action
    assert d.reason
    if action is Action.RETRY:
        assert d.delay == exc.retry_after


def test_default_retry_after_for_silent_503() -> None:
    d = decide(err(E.ServerError, status=503), 1, nx.RetryPolicy(default_retry_after=0.2))
    assert d.action is Action.RETRY and d.delay == 0.2


def test_breaker_accounting_table() -> None:
    assert counts_against_breaker(err(E.ConnectionFailed))
    assert counts_against_breaker(err(E.ServerError, status=500))
    assert counts_against_breaker(err(E.ResponseTimeout))
    assert counts_against_breaker(err(E.AuthenticationFailed, status=401))
    assert not counts_against_breaker(err(E.RateLimited, status=429))
    assert not counts_against_breaker(err(E.BadRequest, status=400))
    assert not counts_against_breaker(ValueError("ours"))
    assert opens_at_once(err(E.ConnectionFailed)) and opens_at_once(err(E.ConnectTimeout))
    assert not opens_at_once(err(E.ResponseTimeout))


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_breaker_transitions_with_a_fake_clock() -> None:
    clock = Clock()
    b = nx.CircuitBreaker(threshold=3, cooldown=5.0, max_cooldown=12.0, clock=clock)
    S = nx.BreakerState
    assert b.state is S.CLOSED and b.allow()
    b.record_failure()
    b.record_failure()
    assert b.state is S.CLOSED  # two of three
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state is S.CLOSED  # success reset the count
    b.record_failure()
    assert b.state is S.OPEN and not b.allow()
    assert b.retry_in() == 5.0
    clock.t += 4.9
    assert not b.allow()
    clock.t += 0.1
    assert b.state is S.HALF_OPEN
    assert b.allow()  # the probe
    assert not b.allow()  # only one probe at a time
    b.record_failure()  # probe failed: open again, cooldown doubled
    assert b.state is S.OPEN and b.retry_in() == 10.0
    clock.t += 10
    assert b.allow()
    b.record_failure()
    assert b.retry_in() == 12.0  # capped at max_cooldown
    clock.t += 12
    assert b.allow()
    b.record_success()
    assert b.state is S.CLOSED and b.snapshot()["cooldown_s"] == 5.0 and b.snapshot()["trips"] == 3


def test_breaker_opens_at_once_on_refusal() -> None:
    b = nx.CircuitBreaker(threshold=5, clock=Clock())
    b.record_failure(open_now=True)
    assert b.state is nx.BreakerState.OPEN


def test_breaker_release_frees_the_probe() -> None:
    clock = Clock()
    b = nx.CircuitBreaker(threshold=1, cooldown=1, clock=clock)
    b.record_failure()
    clock.t += 1
    assert b.allow() and not b.allow()
    b.release()  # the probe ended on our own bad request: no verdict
    assert b.allow()


def test_breaker_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="threshold"):
        nx.CircuitBreaker(threshold=0)


def test_token_bucket() -> None:
    clock = Clock()
    tb = nx.TokenBucket(rate=4, burst=2, clock=clock)
    assert tb.try_acquire() and tb.try_acquire() and not tb.try_acquire()
    assert tb.wait_time() == pytest.approx(0.25)
    clock.t += 0.25
    assert tb.try_acquire() and not tb.try_acquire()
    clock.t += 10
    assert tb.try_acquire() and tb.try_acquire() and not tb.try_acquire()  # never more than the burst
    with pytest.raises(ValueError):
        nx.TokenBucket(rate=0)


# The one failover shell (Run.attempt), by table: what each kind of exception inside a try leaves behind.
# (exception raised in the block, raised out of the shell?, attempt outcome recorded, breaker state after)
SHELL = [
    (None, None, None, "closed"),
    (err(E.ConnectionFailed), None, nx.Outcome.FAILED, "open"),  # refused: opens at once
    (err(E.ServerError, status=500), None, nx.Outcome.FAILED, "closed"),  # one failure of three
    (err(E.AuthenticationFailed, status=401), None, nx.Outcome.SKIPPED_AUTH, "closed"),  # skipped, one of three
    (err(E.RateLimited, status=429), None, nx.Outcome.FAILED, "closed"),  # alive but busy: not held against it
    (err(E.BadRequest, status=400), E.BadRequest, nx.Outcome.STOPPED, "closed"),  # our fault: raised, no failover
    (TypeError("bug"), TypeError, nx.Outcome.STOPPED, "closed"),  # not a provider failure: raised as it is
    (KeyboardInterrupt(), KeyboardInterrupt, None, "closed"),  # no verdict on the provider
    (GeneratorExit(), GeneratorExit, None, "closed"),  # a stream its reader closed
]


@pytest.mark.parametrize(("exc", "raised", "outcome", "state"), SHELL, ids=[type(row[0]).__name__ for row in SHELL])
def test_the_failover_shell(exc, raised, outcome, state) -> None:
    import asyncio

    from nxs_lab.resilience._schedule import Run

    clock = Clock()
    chain = nx.FallbackChain(
        [nx.Provider(name="p", base_url="http://127.0.0.1:9/v1", model="m")],
        breaker=lambda n: nx.CircuitBreaker(name=n, clock=clock),
    )
    run = Run(chain, "chat", None)
    t = next(run.schedule())

    def body() -> None:
        with run.attempt(t):
            t.pause()
            if exc is not None:
                raise exc

    if raised is None:
        body()
    else:
        with pytest.raises(raised):
            body()
    assert t.failed == ((exc is not None and raised is None) or outcome is nx.Outcome.STOPPED)
    assert [a.outcome for a in run.attempts] == ([outcome] if outcome else [])
    assert chain.breakers["p"].state.value == state
    # An abandoned try (Ctrl-C, a closed stream) gives back a half-open breaker's probe; so does the async twin.
    if isinstance(exc, KeyboardInterrupt | GeneratorExit):
        chain.breakers["p"].record_failure(open_now=True)
        clock.t += 3600  # the cooldown is over: the next call is the one probe
        run2 = Run(chain, "chat", None)
        t2 = next(run2.schedule())  # took the probe

        async def abody() -> None:
            with run2.attempt(t2):
                await t2.apause()
                raise asyncio.CancelledError

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(abody())
        assert chain.breakers["p"].allow()  # the probe was given back
