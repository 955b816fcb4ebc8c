"""Promises under hostile servers and interrupted users (issue 12): every probe settles, the chain fails over on
what another provider may answer, the rate limit holds, and garbage is a typed error. Real loopback servers from
the fault kit; real interruptions (Ctrl-C through ``_thread.interrupt_main``, task cancellation, a closed stream)."""

from __future__ import annotations

import _thread
import asyncio
import threading
from collections.abc import Iterator

import pytest

import nxs_lab as nx
from nxs_lab.config import Timeouts
from nxs_lab.testing import Fault, FaultServer

pytestmark = pytest.mark.timeout(60)

SHORT = Timeouts(connect=0.5, first_byte=1.0, idle=1.0)  # for the servers that misbehave
# For healthy servers that must answer: limits a busy 2-core machine cannot trip (a stalled server would still
# fail the test, through pytest-timeout).
PATIENT = Timeouts(connect=5.0, first_byte=60.0, idle=60.0)
USER = [{"role": "user", "content": "hi"}]


class Clock:
    """A clock the test moves by hand (the breaker's and the bucket's clocks are injectable)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def secondary() -> Iterator[FaultServer]:
    with FaultServer(Fault.OK) as ok:
        yield ok


def _half_open_chain(
    primary_url: str, secondary_url: str, clock: Clock, timeouts: Timeouts = SHORT, **kw: object
) -> nx.FallbackChain:
    """A chain whose primary's breaker has tripped and cooled down: the next call to it is the single probe."""
    primary = nx.Provider(name="primary", base_url=primary_url, model="m", timeouts=timeouts)
    backup = nx.Provider(name="secondary", base_url=secondary_url, model="m", timeouts=PATIENT)
    chain = nx.FallbackChain([primary, backup], breaker=lambda _n: nx.CircuitBreaker(cooldown=5, clock=clock), **kw)
    chain.breakers["primary"].record_failure(open_now=True)
    clock.now += 5
    assert chain.breakers["primary"].state is nx.BreakerState.HALF_OPEN
    return chain


def _probe_is_free(chain: nx.FallbackChain) -> bool:
    breaker = chain.breakers["primary"]
    ok = breaker.allow()  # takes the probe if it is free; give it back
    breaker.release()
    return ok


# ---------------------------------------------------------------- 1. every probe settles


def test_a_stream_its_reader_stops_releases_the_probe(secondary: FaultServer) -> None:
    clock = Clock()
    with FaultServer(Fault.OK, chunk_interval=0.05) as slow:
        # the probe must be the one streaming: a first request slowed past SHORT's 1 s by a busy machine fails over
        patient = PATIENT
        chain = _half_open_chain(slow.base_url, secondary.base_url, clock, patient)
        it = iter(chain.stream(USER, max_tokens=8))
        assert next(it)  # the probe is streaming
        assert not _probe_is_free(chain)
        it.close()  # what ChatPanel's Stop does
        assert _probe_is_free(chain)
        chain.close()


def test_ctrl_c_during_the_probe_releases_it(secondary: FaultServer) -> None:
    clock = Clock()
    with FaultServer(Fault.HANG) as hung:
        chain = _half_open_chain(hung.base_url, secondary.base_url, clock)
        timer = threading.Timer(0.3, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            chain.chat(USER)
        timer.join()
        assert _probe_is_free(chain)
        assert chain.chat(USER).provider == "secondary"  # and the chain still works
        chain.close()


def test_a_cancelled_task_releases_the_probe(secondary: FaultServer) -> None:
    clock = Clock()

    async def run(chain: nx.FallbackChain) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(chain.achat(USER), 0.3)
        await chain.aclose()

    with FaultServer(Fault.HANG) as hung:
        chain = _half_open_chain(hung.base_url, secondary.base_url, clock)
        asyncio.run(run(chain))
        assert _probe_is_free(chain)


def test_a_probe_nobody_settles_expires() -> None:
    clock = Clock()
    b = nx.CircuitBreaker(cooldown=5, probe_timeout=30, clock=clock)
    b.record_failure(open_now=True)
    clock.now = 5
    assert b.allow() and not b.allow()  # one probe at a time
    clock.now = 34
    assert not b.allow()
    clock.now = 35
    assert b.allow()


@pytest.mark.parametrize("bad", [float("nan"), 0, -1])
def test_breaker_and_bucket_refuse_nonsense_numbers(bad: float) -> None:
    with pytest.raises(ValueError, match="cooldown"):
        nx.CircuitBreaker(cooldown=bad)
    with pytest.raises(ValueError, match="rate"):
        nx.TokenBucket(rate=bad)


# ------------------------------------------------------------ 2. fail over, or stop


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"mode": Fault.REDIRECT, "status": 301}, "InvalidResponse"),
        ({"mode": Fault.REDIRECT, "status": 302}, "InvalidResponse"),
        ({"mode": Fault.REDIRECT, "status": 307}, "InvalidResponse"),
        ({"mode": Fault.REDIRECT, "status": 308}, "InvalidResponse"),
        ({"mode": Fault.STATUS, "status": 407}, "ConnectionFailed"),
        ({"mode": Fault.STATUS, "status": 408}, "ResponseTimeout"),
        ({"mode": Fault.STATUS, "status": 413}, "ContextOverflow"),
        ({"mode": Fault.STATUS, "status": 421}, "ConnectionFailed"),
        ({"mode": Fault.STATUS, "status": 405}, "RequestRefused"),
        ({"mode": Fault.NESTED_JSON}, "InvalidResponse"),
        ({"mode": Fault.STATUS, "status": 200, "body": {"choices": 5}}, "InvalidResponse"),
        ({"mode": Fault.STATUS, "status": 200, "body": b"\xff\xfe not utf-8"}, "InvalidResponse"),
    ],
)
def test_the_chain_fails_over(fault: dict, error: str, secondary: FaultServer) -> None:
    with FaultServer(**fault) as bad:
        primary = nx.Provider(name="primary", base_url=bad.base_url, model="m", timeouts=SHORT)
        backup = nx.Provider(name="secondary", base_url=secondary.base_url, model="m", timeouts=PATIENT)
        with nx.FallbackChain([primary, backup]) as chain:
            r = chain.chat(USER)
    assert r.provider == "secondary"
    assert r.attempts[0].outcome is nx.Outcome.FAILED and r.attempts[0].error == error


@pytest.mark.parametrize("status", [400, 422])
def test_a_request_every_provider_would_refuse_stops_the_chain(status: int, secondary: FaultServer) -> None:
    with FaultServer(Fault.STATUS, status=status) as bad:
        primary = nx.Provider(name="primary", base_url=bad.base_url, model="m", timeouts=SHORT)
        backup = nx.Provider(name="secondary", base_url=secondary.base_url, model="m", timeouts=PATIENT)
        with nx.FallbackChain([primary, backup]) as chain, pytest.raises(nx.BadRequest):
            chain.chat(USER)
    assert secondary.requests == 0


@pytest.mark.parametrize(
    "fault",
    [{"mode": Fault.NESTED_JSON}, {"mode": Fault.REDIRECT}, {"mode": Fault.HTML_200}, {"mode": Fault.REFUSE}],
)
def test_health_never_raises(fault: dict) -> None:
    with FaultServer(**fault) as bad:
        h = nx.Provider(name="p", base_url=bad.base_url, timeouts=SHORT).health()
    assert h.ok is False and h.error


def test_a_flood_of_error_text_is_cut() -> None:
    with FaultServer(Fault.STATUS, status=500, body={"error": {"message": "x" * 1_000_000}}) as bad:
        with pytest.raises(nx.ServerError) as info:
            nx.Provider(name="p", base_url=bad.base_url, model="m", timeouts=SHORT).chat(USER)
    assert len(str(info.value)) < 1000 and "1000000 characters" in str(info.value)


# ----------------------------------------------------------------- 3. the rate limit holds


def test_the_bucket_books_slots_before_anyone_waits() -> None:
    clock = Clock()
    b = nx.TokenBucket(rate=2, burst=1, clock=clock)
    waits = [b.reserve(max_wait=10) for _ in range(5)]  # five callers at the same instant
    assert waits == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert b.reserve(max_wait=2.0) is None  # the sixth would wait 2.5 s: moves on, books nothing
    assert b.reserve(max_wait=2.5) == 2.5


def test_sequential_calls_keep_to_the_rate(secondary: FaultServer) -> None:
    clock = Clock()
    p = nx.Provider(name="p", base_url=secondary.base_url, model="m", timeouts=PATIENT)
    chain = nx.FallbackChain(
        [p], rate_limits={"p": nx.TokenBucket(rate=2, burst=1, clock=clock)}, max_rate_wait=1.0, sleep=clock.sleep
    )
    for _ in range(5):
        assert chain.chat(USER).provider == "p"
    assert clock.now == pytest.approx(2.0)  # 5 calls at 2/s: the last goes out 2 s after the first
    assert secondary.calls == 5  # five calls, none sent twice (its kind is read once, with GETs, for provenance)
    chain.close()


# ------------------------------------------------------------ 11. credentials in a URL


def test_credentials_in_base_url_are_sent_as_basic_auth_and_shown_nowhere() -> None:
    secret = "s3cret-Pa55"
    with FaultServer(Fault.OK) as ok, FaultServer(Fault.STATUS, status=500) as failing:
        good = nx.Provider(name="gw", base_url=f"http://alice:{secret}@127.0.0.1:{ok.port}/v1", model="m")
        assert good.chat(USER).provider == "gw"
        assert good.list_models()
        sent = {h.get("authorization") for h in ok.seen_headers}
        assert sent == {"Basic YWxpY2U6czNjcmV0LVBhNTU="}  # base64("alice:s3cret-Pa55"), on SDK and native calls
        bad = nx.Provider(name="gw2", base_url=f"http://alice:{secret}@127.0.0.1:{failing.port}/v1", model="m")
        with pytest.raises(nx.ServerError) as info:
            bad.chat(USER)
        chain = nx.FallbackChain([bad, good])
        shown = [
            str(info.value),
            repr(info.value),
            good.base_url,
            repr(good),
            good._repr_html_(),
            bad.health().error or "",
            str(chain.state()),
            chain._repr_html_(),
            repr(chain.chat(USER).attempts),
        ]
        chain.close()
    assert all(secret not in s and "alice" not in s for s in shown)


def test_a_key_and_url_credentials_together_are_refused() -> None:
    with pytest.raises(nx.ConfigError, match="Authorization header") as info:
        nx.ProviderConfig.checked(name="x", base_url="https://u:hunter2@gw.example/v1", api_key="sk-abc")
    assert "hunter2" not in str(info.value)


def test_bytes_content_is_refused_with_its_position() -> None:
    p = nx.Provider(name="p", base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(TypeError, match=r"messages\[1\]\['content'\].*bytes"):
        p.chat([{"role": "system", "content": "x"}, {"role": "user", "content": b"hi"}])
