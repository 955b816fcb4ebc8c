"""Every request ends within its allowance and never reads more than its cap (issue 12, items 4 and 5).

Real loopback servers from the fault kit drip headers and bodies, send 300 MB answers, gzip bombs and streams
that never end. The pytest timeout is the only clock here: a call that ignores its allowance hangs and fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import nxs_lab as nx
from nxs_lab.client._allowance import AllowanceTransport, AsyncAllowanceTransport, _AsyncBackend, _Backend
from nxs_lab.config import Timeouts
from nxs_lab.testing import Fault, FaultServer

pytestmark = pytest.mark.timeout(60)

USER = [{"role": "user", "content": "hi"}]
# Each byte of a drip arrives well within first_byte and idle: only a total can end the call.
DRIPPING = {"drip_interval": 0.05}
MiB = 2**20


def _provider(server: FaultServer, **kw: object) -> nx.Provider:
    timeouts = kw.pop("timeouts", Timeouts(connect=0.5, first_byte=1.0, idle=1.0, total=1.0))
    return nx.Provider(name="p", base_url=server.base_url, model="m", timeouts=timeouts, **kw)  # type: ignore[arg-type]


def test_the_transports_wrap_the_pools_network_backend() -> None:
    """The one place the kit reaches into httpx2: if this changes, allowances silently stop applying."""
    assert isinstance(AllowanceTransport()._pool._network_backend, _Backend)
    assert isinstance(AsyncAllowanceTransport()._pool._network_backend, _AsyncBackend)


@pytest.mark.parametrize("mode", [Fault.DRIP, Fault.BODY_DRIP])
def test_total_holds_from_before_the_request_is_sent(mode: Fault) -> None:
    with FaultServer(mode, **DRIPPING) as srv, _provider(srv) as p:
        with pytest.raises(nx.ResponseTimeout, match="total timeout") as err:
            p.chat(USER)
    assert err.value.provider == "p"


@pytest.mark.parametrize("mode", [Fault.DRIP, Fault.BODY_DRIP])
def test_async_total_holds_too(mode: Fault) -> None:
    async def go() -> None:
        with FaultServer(mode, **DRIPPING) as srv:
            async with _provider(srv).to_async() as ap:
                with pytest.raises(nx.ResponseTimeout, match="total timeout"):
                    await ap.chat(USER)

    asyncio.run(go())


def test_native_calls_have_a_deadline_without_a_total() -> None:
    """Model listing and token counting: bounded by first_byte when no total is set."""
    t = Timeouts(connect=0.5, first_byte=1.0, idle=1.0)
    with FaultServer(Fault.DRIP, **DRIPPING) as srv, _provider(srv, timeouts=t) as p:
        with pytest.raises(nx.ResponseTimeout, match="within 1 s"):
            p.get_json("/v1/models")
        assert p.health().ok is False

    async def go() -> None:
        with FaultServer(Fault.DRIP, **DRIPPING) as srv:
            async with _provider(srv, timeouts=t).to_async() as ap:
                with pytest.raises(nx.ResponseTimeout, match="within 1 s"):
                    await ap.get_json("/v1/models")

    asyncio.run(go())


def test_a_stream_that_never_ends_ends_at_stream_total() -> None:
    t = Timeouts(connect=0.5, first_byte=1.0, idle=1.0, stream_total=1.0)
    with FaultServer(Fault.ENDLESS_STREAM, chunk_interval=0.02) as srv, _provider(srv, timeouts=t) as p:
        with pytest.raises(nx.StreamInterrupted, match="total timeout") as err:
            p.stream(USER).collect()
        assert err.value.partial_text.startswith("more ")


def test_async_stream_total_and_a_chain_collect_end() -> None:
    t = Timeouts(connect=0.5, first_byte=1.0, idle=1.0, stream_total=1.0)

    async def go(url: str) -> None:
        async with nx.AsyncProvider(name="p", base_url=url, model="m", timeouts=t) as ap:
            with pytest.raises(nx.StreamInterrupted, match="total timeout"):
                await (await ap.stream(USER)).collect()

    with FaultServer(Fault.ENDLESS_STREAM, chunk_interval=0.02) as endless, FaultServer(Fault.OK) as ok:
        asyncio.run(go(endless.base_url))
        primary = nx.Provider(name="endless", base_url=endless.base_url, model="m", timeouts=t)
        backup = nx.Provider(name="ok", base_url=ok.base_url, model="m", timeouts=t)
        chain = nx.FallbackChain([primary, backup], resume_streams=True)
        result = chain.stream(USER).collect()
        assert result.provider == "ok"
        assert [a.provider for a in result.attempts] == ["endless", "ok"]


def test_a_huge_reply_is_refused() -> None:
    with FaultServer(Fault.HUGE_BODY, huge_bytes=16 * MiB) as huge:
        with _provider(huge, max_response_bytes=MiB, timeouts=None) as p:
            with pytest.raises(nx.ResponseTooLarge, match="max_response_bytes"):
                p.chat(USER)

        async def go() -> None:
            async with _provider(huge, max_response_bytes=MiB, timeouts=None).to_async() as ap:
                with pytest.raises(nx.ResponseTooLarge, match="max_response_bytes"):
                    await ap.chat(USER)

        asyncio.run(go())


def test_a_huge_reply_fails_over_in_a_chain() -> None:
    with FaultServer(Fault.HUGE_BODY, huge_bytes=16 * MiB) as huge, FaultServer(Fault.OK) as ok:
        big = nx.Provider(name="big", base_url=huge.base_url, model="m", max_response_bytes=MiB)
        small = nx.Provider(name="ok", base_url=ok.base_url, model="m")
        result = nx.FallbackChain([big, small]).chat(USER)
        assert result.provider == "ok"
        assert result.attempts[0].error == "ResponseTooLarge"


def test_a_huge_error_message_is_capped_twice() -> None:
    """A 500 whose message is larger than the cap is refused; one below it still gives a short exception."""
    with FaultServer(Fault.HUGE_ERROR, huge_bytes=4 * MiB) as srv:
        with pytest.raises(nx.ResponseTooLarge):
            nx.Provider(name="p", base_url=srv.base_url, model="m", max_response_bytes=MiB).chat(USER)
        with pytest.raises(nx.ServerError) as err:
            nx.Provider(name="p", base_url=srv.base_url, model="m").chat(USER)
        assert len(str(err.value)) < 1000


@pytest.mark.parametrize("stream", [False, True])
def test_a_gzip_bomb_is_refused_before_it_expands(stream: bool) -> None:
    with FaultServer(Fault.GZIP_BOMB, huge_bytes=64 * MiB) as srv, _provider(srv, timeouts=None) as p:
        with pytest.raises(nx.InvalidResponse, match="compressed"):
            p.stream(USER).collect() if stream else p.chat(USER)
        with pytest.raises(nx.InvalidResponse, match="compressed"):
            p.get_json("/v1/models")
        assert srv.seen_headers[-1]["accept-encoding"] == "identity"


def test_a_stream_over_the_cap_is_cut_and_says_so() -> None:
    t = Timeouts(connect=0.5, first_byte=1.0, idle=1.0)
    with FaultServer(Fault.ENDLESS_STREAM, chunk_interval=0.001) as srv:
        p = nx.Provider(name="p", base_url=srv.base_url, model="m", timeouts=t, max_response_bytes=64 * 1024)
        with pytest.raises(nx.StreamInterrupted, match="max_response_bytes"):
            p.stream(USER).collect()


@pytest.fixture
def silent() -> Iterator[FaultServer]:
    with FaultServer(Fault.HANG) as srv:
        yield srv


def test_stop_ends_a_silent_stream_at_once(silent: FaultServer) -> None:
    """Stop from another thread while the server says nothing (before its headers): the reader returns."""
    import threading

    p = nx.Provider(name="p", base_url=silent.base_url, model="m")  # first_byte 120 s: only stop() can end it
    s = p.stream(USER)
    threading.Timer(0.5, s.stop).start()
    assert list(s) == []
    assert s.stopped and s.result is None
    with pytest.raises(nx.StreamInterrupted, match="stopped"):
        s.collect()
