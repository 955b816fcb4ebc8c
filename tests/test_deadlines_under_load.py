"""Deadlines that measure the server: a stream's first-byte limit starts when the request is on the wire, so the
client's own start-up (building the SDK client, waiting for a slot in its pool, connecting) never counts against
a healthy server, and a 200-way burst under short limits answers in full with no breaker opened."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import httpx2
import pytest

import nxs_lab as nx
from nxs_lab.testing.faults import Fault, fault_process

BURST = 200
SHORT = nx.Timeouts(connect=2.0, first_byte=0.25, idle=2.0)


def _burst(chain: nx.FallbackChain) -> list[BaseException | nx.ChatResult]:
    def one(i: int) -> BaseException | nx.ChatResult:
        try:
            stream = chain.stream([{"role": "user", "content": f"hi {i}"}], max_tokens=4)
            for _ in stream:
                pass
            assert stream.result is not None
            return stream.result
        except nx.NxsLabError as exc:
            return exc

    with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
        return list(pool.map(one, range(BURST)))


def test_a_200_way_burst_of_streams_under_short_limits_answers_in_full() -> None:
    with fault_process(Fault.OK) as primary, fault_process(Fault.OK) as secondary:
        chain = nx.FallbackChain(
            [
                nx.Provider(name="primary", base_url=primary, model="stub-model", timeouts=SHORT),
                nx.Provider(name="secondary", base_url=secondary, model="stub-model", timeouts=SHORT),
            ]
        )
        results = _burst(chain)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert not failed, f"{len(failed)} of {BURST} failed, first: {failed[0]!r}"
        by = {r.provider for r in results if isinstance(r, nx.ChatResult)}
        assert by == {"primary"}  # a healthy primary answered every one: nothing went elsewhere
        assert all(b.state == "closed" for b in chain.breakers.values())
        chain.close()


def test_the_async_burst_answers_in_full_too() -> None:
    async def run(chain: nx.FallbackChain) -> list[BaseException | nx.ChatResult]:
        async def one(i: int) -> BaseException | nx.ChatResult:
            try:
                stream = chain.astream([{"role": "user", "content": f"hi {i}"}], max_tokens=4)
                async for _ in stream:
                    pass
                assert stream.result is not None
                return stream.result
            except nx.NxsLabError as exc:
                return exc

        try:
            return await asyncio.gather(*(one(i) for i in range(BURST)))
        finally:
            await chain.aclose()

    with fault_process(Fault.OK) as primary, fault_process(Fault.OK) as secondary:
        chain = nx.FallbackChain(
            [
                nx.Provider(name="primary", base_url=primary, model="stub-model", timeouts=SHORT),
                nx.Provider(name="secondary", base_url=secondary, model="stub-model", timeouts=SHORT),
            ]
        )
        results = asyncio.run(run(chain))
        failed = [r for r in results if isinstance(r, BaseException)]
        assert not failed, f"{len(failed)} of {BURST} failed, first: {failed[0]!r}"
        assert {r.provider for r in results if isinstance(r, nx.ChatResult)} == {"primary"}
        assert all(b.state == "closed" for b in chain.breakers.values())
        chain.close()


def test_a_server_that_never_answers_still_trips_the_first_byte_limit() -> None:
    """Armed on the wire, the limit still holds: a hung server fails within it, sync and async."""
    with fault_process(Fault.HANG) as hung:
        p = nx.Provider(name="hung", base_url=hung, model="stub-model", timeouts=SHORT)
        t0 = time.monotonic()
        with pytest.raises(nx.ResponseTimeout, match="first-byte"):
            for _ in p.stream([{"role": "user", "content": "hi"}], max_tokens=4):
                pass
        assert time.monotonic() - t0 < 5 * SHORT.first_byte + SHORT.connect

        async def hang() -> None:
            async with p.to_async() as ap:
                stream = await ap.stream([{"role": "user", "content": "hi"}], max_tokens=4)
                async for _ in stream:
                    pass

        with pytest.raises(nx.ResponseTimeout, match="first-byte"):
            asyncio.run(hang())
        p.close()


def test_one_total_covers_a_call_and_every_request_inside_it() -> None:
    """Against a server that accepts and never answers, with total=1: finding the model (the kind's probes, the
    model list) and the call share that one second, sync and async, and nothing is cached from probes cut short."""
    limits = nx.Timeouts(connect=1.0, first_byte=10.0, idle=10.0, total=1.0)
    with fault_process(Fault.HANG) as hung:
        p = nx.Provider(name="hung", base_url=hung, timeouts=limits)
        for call in (p.list_models, lambda: p.chat([{"role": "user", "content": "hi"}])):
            t0 = time.monotonic()
            with pytest.raises(nx.ResponseTimeout, match="total timeout"):
                call()
            assert time.monotonic() - t0 < 3 * limits.total
        assert p.catalog._server is None  # no kind guessed from probes the deadline cut short

        async def achat() -> None:
            async with p.to_async() as ap:
                await ap.chat([{"role": "user", "content": "hi"}])

        t0 = time.monotonic()
        with pytest.raises(nx.ResponseTimeout):
            asyncio.run(achat())
        assert time.monotonic() - t0 < 3 * limits.total
        p.close()


class _OneConnection(nx.Provider):
    """A provider whose pool holds one connection, so a second call must wait for the first to finish."""

    _limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)


def test_a_total_does_not_count_the_wait_for_the_clients_own_pool() -> None:
    """One connection, held by a stream whose chunks come every half second; a chat with total=0.5 waits 1.5 s for
    it, then gets the server's
    full half second: it answers. The wait was the client's, not the server's (the total was counted from the
    call's start before: a ResponseTimeout blamed on a healthy server)."""
    limits = nx.Timeouts(connect=2.0, first_byte=5.0, idle=5.0, total=0.5)
    with (
        fault_process(Fault.OK, "--chunk-interval", "0.5") as ok,
        _OneConnection(name="ok", base_url=ok, model="stub-model", timeouts=limits) as p,
    ):
        p.chat([{"role": "user", "content": "warm"}])  # the model and kind are known: the next chat is one request
        held = p.stream([{"role": "user", "content": "hold"}], max_tokens=4)
        reading = iter(held)
        next(reading)  # the stream's response holds the only connection while it is being read
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(p.chat, [{"role": "user", "content": "hi"}])
            time.sleep(1.5)
            assert not waiting.done()  # still waiting for the pool, past its total
            held.close()
            result = waiting.result(timeout=10)
    assert result.text and result.finish_reason == "stop" and result.latency_s >= 1.0


class _OneAsyncConnection(nx.AsyncProvider):
    _limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)


def test_the_async_total_does_not_count_the_pool_wait_either() -> None:
    limits = nx.Timeouts(connect=2.0, first_byte=5.0, idle=5.0, total=0.5)

    async def run(url: str) -> nx.ChatResult:
        async with _OneAsyncConnection(name="ok", base_url=url, model="stub-model", timeouts=limits) as p:
            await p.chat([{"role": "user", "content": "warm"}])
            held = await p.stream([{"role": "user", "content": "hold"}], max_tokens=4)
            reading = held.__aiter__()
            await reading.__anext__()
            waiting = asyncio.create_task(p.chat([{"role": "user", "content": "hi"}]))
            await asyncio.sleep(1.5)
            assert not waiting.done()
            await held.aclose()
            return await asyncio.wait_for(waiting, 10)

    with fault_process(Fault.OK, "--chunk-interval", "0.5") as ok:
        result = asyncio.run(run(ok))
    assert result.text and result.finish_reason == "stop" and result.latency_s >= 1.0
