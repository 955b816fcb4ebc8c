"""The fallback chain against real faults: misbehaving loopback servers in front of the real embedded server.

No call here asserts a duration (timing lives in benchmarks/): each test's hang guard is pytest-timeout,
and the attempts record says which configured timeout fired.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
from collections.abc import Iterator

import pytest

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer

pytestmark = pytest.mark.timeout(60)

USER = [{"role": "user", "content": "Say one word."}]
SHORT = nx.Timeouts(connect=0.5, first_byte=1.0, idle=0.5, total=2.0)  # for the servers that misbehave
# For healthy servers that must answer: limits a busy 2-core machine cannot trip (a stalled server would still
# fail the test, through pytest-timeout).
PATIENT = nx.Timeouts(connect=5.0, first_byte=60.0, idle=60.0)


@pytest.fixture
def embedded(local_server: nx.LocalServer) -> Iterator[nx.Provider]:
    p = local_server.provider(name="embedded")
    yield p
    p.close()


def chain_with(fault: FaultServer, embedded: nx.Provider, **kw) -> nx.FallbackChain:
    primary = nx.Provider(name="primary", base_url=fault.base_url, model="stub-model", timeouts=SHORT)
    return nx.FallbackChain([primary, embedded], **kw)


FAULTS = [
    # (fault server settings, expected error class on the primary, expected outcome)
    (dict(mode=Fault.REFUSE), "ConnectionFailed", nx.Outcome.FAILED),
    (dict(mode=Fault.HANG), "ResponseTimeout", nx.Outcome.FAILED),
    (dict(mode=Fault.DRIP, drip_interval=0.2), "ResponseTimeout", nx.Outcome.FAILED),  # `total` fires
    (dict(mode=Fault.STATUS, status=500), "ServerError", nx.Outcome.FAILED),
    (dict(mode=Fault.STATUS, status=503, headers={"retry-after": "120"}), "ServerError", nx.Outcome.FAILED),
    (dict(mode=Fault.STATUS, status=429, headers={"retry-after": "90"}), "RateLimited", nx.Outcome.FAILED),
    (
        dict(mode=Fault.STATUS, status=401, body={"error": {"message": "Invalid API key"}}),
        "AuthenticationFailed",
        nx.Outcome.SKIPPED_AUTH,
    ),
    (
        dict(mode=Fault.STATUS, status=404, body={"error": {"message": "model 'stub-model' not found"}}),
        "ModelNotFound",
        nx.Outcome.FAILED,
    ),
    (dict(mode=Fault.MALFORMED_JSON), "InvalidResponse", nx.Outcome.FAILED),
    (dict(mode=Fault.HTML_200), "InvalidResponse", nx.Outcome.FAILED),
    (
        dict(
            mode=Fault.STATUS,
            status=400,
            body={
                "error": {
                    "message": "This model's maximum context length is 512 "
                    "tokens. However, you requested 900 tokens (890 in the messages, 10 in the completion)."
                }
            },
        ),
        "ContextOverflow",
        nx.Outcome.FAILED,
    ),
]


@pytest.mark.parametrize(("settings", "error", "outcome"), FAULTS, ids=[f"{f[0]['mode'].value}-{f[1]}" for f in FAULTS])
def test_chat_fails_over_to_the_embedded_server(settings, error, outcome, embedded: nx.Provider) -> None:
    with FaultServer(**settings) as fault:
        chain = chain_with(fault, embedded)
        r = chain.chat(USER, max_tokens=4)
    assert r.provider == "embedded" and r.text.strip()
    first, last = r.attempts[0], r.attempts[-1]
    assert (first.provider, first.error, first.outcome) == ("primary", error, outcome)
    assert (last.provider, last.outcome) == ("embedded", nx.Outcome.OK)
    assert len(r.attempts) == 2


def test_all_healthy_answers_from_the_primary(embedded: nx.Provider) -> None:
    with FaultServer(Fault.OK) as ok:
        r = chain_with(ok, embedded).chat(USER)
    assert r.provider == "primary" and [a.outcome for a in r.attempts] == [nx.Outcome.OK]


def test_short_retry_after_is_honoured_on_the_same_provider(embedded: nx.Provider) -> None:
    with FaultServer(Fault.FLAKY, status=503, fail_times=1, headers={"retry-after-ms": "50"}) as flaky:
        r = chain_with(flaky, embedded).chat(USER)
        assert flaky.calls == 2  # one 503, then the answer (its kind is read once, with GETs)
    assert r.provider == "primary"
    assert [a.outcome for a in r.attempts] == [nx.Outcome.RETRIED, nx.Outcome.OK]


def test_a_bad_request_stops_the_chain(embedded: nx.Provider) -> None:
    with FaultServer(Fault.STATUS, status=400, body={"error": {"message": "temperature must be <= 2"}}) as bad:
        chain = chain_with(bad, embedded)
        with pytest.raises(nx.BadRequest) as info:
            chain.chat(USER)
    assert [a.provider for a in info.value.attempts] == ["primary"]  # the embedded server was never asked
    assert info.value.attempts[0].outcome is nx.Outcome.STOPPED


FROZEN = lambda name: nx.CircuitBreaker(clock=lambda: 0.0)  # noqa: E731 - a cooldown that never ends mid-test


def test_open_breaker_skips_a_dead_primary(embedded: nx.Provider) -> None:
    with FaultServer(Fault.REFUSE) as dead:
        chain = chain_with(dead, embedded, breaker=FROZEN)
        first = chain.chat(USER, max_tokens=2)
        second = chain.chat(USER, max_tokens=2)
    assert first.attempts[0].outcome is nx.Outcome.FAILED
    assert chain.breakers["primary"].state is nx.BreakerState.OPEN
    assert second.attempts[0].outcome is nx.Outcome.SKIPPED_OPEN and second.attempts[0].elapsed_s == 0.0
    assert second.provider == "embedded"
    assert {row["provider"]: row["state"] for row in chain.state()}["primary"] == "open"


def test_breaker_probe_lets_a_recovered_primary_back(embedded: nx.Provider) -> None:
    clock = [0.0]
    with FaultServer(Fault.FLAKY, status=500, fail_times=3) as flaky:
        chain = chain_with(
            flaky, embedded, breaker=lambda name: nx.CircuitBreaker(threshold=3, cooldown=10, clock=lambda: clock[0])
        )
        for _ in range(3):
            assert chain.chat(USER, max_tokens=2).provider == "embedded"
        assert chain.breakers["primary"].state is nx.BreakerState.OPEN
        assert chain.chat(USER, max_tokens=2).attempts[0].outcome is nx.Outcome.SKIPPED_OPEN
        clock[0] = 10.0  # cooldown over: one probe goes to the (now healthy) primary
        r = chain.chat(USER, max_tokens=2)
    assert r.provider == "primary" and chain.breakers["primary"].state is nx.BreakerState.CLOSED


def test_every_provider_failing_is_one_clear_error() -> None:
    with FaultServer(Fault.REFUSE) as a, FaultServer(Fault.STATUS, status=502) as b:
        chain = nx.FallbackChain(
            [
                nx.Provider(name="a", base_url=a.base_url, model="m", timeouts=SHORT),
                nx.Provider(name="b", base_url=b.base_url, model="m", timeouts=SHORT),
            ]
        )
        with pytest.raises(nx.AllProvidersFailed) as info:
            chain.chat(USER)
    assert [x.error for x in info.value.attempts] == ["ConnectionFailed", "ServerError"]
    assert isinstance(info.value.last_error, nx.ServerError)
    assert "a: failed" in str(info.value) and "b: failed" in str(info.value)


# ------------------------------------------------------------------------- streams


def test_stream_fails_over_before_the_first_token(embedded: nx.Provider) -> None:
    with FaultServer(Fault.STATUS, status=500) as broken:
        s = chain_with(broken, embedded).stream(USER, max_tokens=6)
        deltas = list(s)
    assert deltas and "".join(deltas) == s.result.text
    assert s.result.provider == "embedded"
    assert [a.error for a in s.attempts] == ["ServerError", None]


def test_hung_stream_fails_over_on_first_byte_timeout(embedded: nx.Provider) -> None:
    with FaultServer(Fault.HANG) as hung:
        s = chain_with(hung, embedded).stream(USER, max_tokens=6)
        text = "".join(s)
    assert text and s.result.provider == "embedded" and s.attempts[0].error == "ResponseTimeout"


def test_stream_cut_after_text_raises_with_the_partial_text(embedded: nx.Provider) -> None:
    with FaultServer(Fault.SSE_CUT, cut_after=3) as cut:
        s = chain_with(cut, embedded).stream(USER)
        seen = []
        with pytest.raises(nx.StreamInterrupted) as info:
            for d in s:
                seen.append(d)
    assert info.value.partial_text == "".join(seen) == "one two three "
    assert s.result is None  # never passed off as complete
    assert [a.outcome for a in info.value.attempts] == [nx.Outcome.STOPPED]


def test_stalled_stream_raises_on_the_idle_timeout(embedded: nx.Provider) -> None:
    with FaultServer(Fault.OK, chunk_interval=1.5) as slow:  # each gap is longer than idle=0.5
        s = chain_with(slow, embedded).stream(USER)
        with pytest.raises(nx.StreamInterrupted) as info:
            list(s)
    assert info.value.cause_kind == "ResponseTimeout" and info.value.partial_text == "one "
    assert "idle timeout" in str(info.value)


def test_resume_mode_continues_on_the_next_provider(embedded: nx.Provider) -> None:
    with FaultServer(Fault.SSE_CUT, cut_after=2) as cut:
        s = chain_with(cut, embedded, resume_streams=True).stream(USER, max_tokens=8)
        text = "".join(s)
    assert s.result.provider == "embedded"
    assert text == s.result.text and text.startswith("one two ") and len(text) > len("one two ")
    assert s.attempts[0].outcome is nx.Outcome.FAILED and "resuming" in s.attempts[0].detail


def test_async_stream_fails_over(embedded: nx.Provider) -> None:
    async def run() -> tuple[str, nx.ChatResult]:
        with FaultServer(Fault.REFUSE) as dead:
            chain = chain_with(dead, embedded)
            s = chain.astream(USER, max_tokens=6)
            text = "".join([d async for d in s])
            await chain.aclose()
            return text, s.result

    text, result = asyncio.run(run())
    assert text == result.text and result.provider == "embedded"


# --------------------------------------------------------------------- embeddings


def test_embed_fails_over(embedded: nx.Provider) -> None:
    with FaultServer(Fault.REFUSE) as dead:
        primary = nx.Provider(name="primary", base_url=dead.base_url, model="m", timeouts=SHORT)
        r = nx.FallbackChain([primary, embedded]).embed(["a", "b"])
    assert r.provider == "embedded" and len(r) == 2 and len(r[0]) == 576
    assert r.attempts[0].error == "ConnectionFailed"


# ---------------------------------------------------------------------- concurrency


def _open_fds() -> int:
    gc.collect()  # count what is really held open, not what is waiting for the collector
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.timeout(300)
def test_200_concurrent_calls_with_the_primary_down(embedded: nx.Provider) -> None:
    async def run(chain: nx.FallbackChain) -> list[nx.ChatResult]:
        results = await asyncio.gather(*(chain.achat(USER, max_tokens=1) for _ in range(200)))
        await chain.aclose()
        return results

    with FaultServer(Fault.REFUSE) as dead:
        primary = nx.Provider(name="primary", base_url=dead.base_url, model="m", timeouts=SHORT)
        chain = nx.FallbackChain([primary, embedded], breaker=FROZEN)
        asyncio.run(run(chain))  # warm up: imports, pools, the breaker's first verdict
        before = _open_fds()
        results = asyncio.run(run(chain))
        after = _open_fds()
    assert len(results) == 200 and all(r.provider == "embedded" for r in results)
    assert all(r.usage.completion_tokens == 1 for r in results)
    assert all(r.attempts[0].outcome is nx.Outcome.SKIPPED_OPEN for r in results)
    assert after <= before  # no connection left open


# ------------------------------------------------------------------ rate limit, log


def test_local_rate_limit_moves_on_instead_of_waiting(embedded: nx.Provider) -> None:
    with FaultServer(Fault.OK) as ok:
        primary = nx.Provider(name="primary", base_url=ok.base_url, model="stub-model", timeouts=PATIENT)
        chain = nx.FallbackChain([primary, embedded], rate_limits={"primary": nx.TokenBucket(rate=0.01, burst=1)})
        a = chain.chat(USER, max_tokens=2)
        b = chain.chat(USER, max_tokens=2)
        assert ok.calls == 1
    assert a.provider == "primary"
    assert b.provider == "embedded" and b.attempts[0].outcome is nx.Outcome.SKIPPED_RATE


def test_request_log_lines(embedded: nx.Provider, tmp_path) -> None:
    path = tmp_path / "requests.jsonl"
    with FaultServer(Fault.REFUSE) as dead, nx.RequestLog(path) as log:
        chain = chain_with(dead, embedded, log=log, breaker=FROZEN)
        chain.chat(USER, max_tokens=2)
        chain.chat(USER, max_tokens=2)
        lines = log.read()
    assert [(x["provider"], x["outcome"]) for x in lines] == [
        ("primary", "failed"),
        ("embedded", "ok"),
        ("primary", "skipped: breaker open"),
        ("embedded", "ok"),
    ]
    assert lines[1]["model"] == embedded.model and lines[1]["completion_tokens"] >= 1
    assert all("content" not in x for x in lines)  # content only when asked for
    raw = path.read_text().splitlines()
    assert all(json.loads(line) for line in raw)


def test_request_log_with_content_and_a_torn_last_line(embedded: nx.Provider, tmp_path) -> None:
    path = tmp_path / "requests.jsonl"
    with nx.RequestLog(path, include_content=True) as log:
        nx.FallbackChain([embedded], log=log).chat(USER, max_tokens=2)
    with open(path, "a") as fh:
        fh.write('{"time": "2026-11-25T00:00:00", "provi')  # a crash mid-line elsewhere
    lines = nx.RequestLog(path).read()
    assert len(lines) == 1 and isinstance(lines[0]["content"]["answer"], str)


def test_from_config_orders_by_priority(local_server: nx.LocalServer) -> None:
    cfg = nx.LabConfig(
        providers=[
            nx.ProviderConfig(name="cloud", base_url="https://api.example.com/v1", priority=3),
            nx.ProviderConfig(name="local", base_url=local_server.base_url, priority=1),
        ]
    )
    chain = nx.FallbackChain.from_config(cfg)
    assert [p.name for p in chain.providers] == ["local", "cloud"]
    assert "local[closed]" in repr(chain) and "<table" in chain._repr_html_()
