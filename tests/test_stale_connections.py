"""A stale connection is not a dead server: a request that meets a kept-alive connection the server closed just then
is sent again at once on a fresh one, sync and async, chat, stream and embed alike, so the primary's breaker stays
closed and no call goes elsewhere. A failure on a fresh connection still counts. Real sockets throughout: the fault
kit's server closes every reused connection unanswered (``drop_reused``), a keep-alive timeout expiring each time."""

from __future__ import annotations

import asyncio

import pytest

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer

pytestmark = pytest.mark.timeout(60)

USER = [{"role": "user", "content": "hi"}]
CALLS = 6


def test_a_chain_over_a_server_that_closes_reused_connections_never_fails_over() -> None:
    with FaultServer(Fault.OK, drop_reused=True) as edgy, FaultServer(Fault.OK) as other:
        primary = nx.Provider(name="primary", base_url=edgy.base_url, model="stub-model")
        secondary = nx.Provider(name="secondary", base_url=other.base_url, model="stub-model")
        with nx.FallbackChain([primary, secondary]) as chain:
            answered = [chain.chat(USER, max_tokens=4).provider for _ in range(CALLS)]
            streamed = ["".join(s := chain.stream(USER, max_tokens=4)) and s.result.provider for _ in range(2)]
            vectors = primary.embed(["a", "b"])
            assert chain.breakers["primary"].state is nx.BreakerState.CLOSED
        assert answered == ["primary"] * CALLS and streamed == ["primary"] * 2 and len(vectors) == 2
        assert other.requests == 0
        assert edgy.dropped >= CALLS - 1  # the server did close the reused connections: the retries answered


def test_the_request_log_records_each_request_sent_again(tmp_path) -> None:
    with FaultServer(Fault.OK, drop_reused=True) as edgy:
        primary = nx.Provider(name="primary", base_url=edgy.base_url, model="stub-model")
        primary.chat(USER, max_tokens=4)  # its first answer: what the server is is read then, once (provenance)
        dropped = edgy.dropped
        log = nx.RequestLog(tmp_path / "requests.jsonl")
        with nx.FallbackChain([primary], log=log) as chain:
            for _ in range(CALLS):
                chain.chat(USER, max_tokens=4)
        lines = log.read()
        assert [line["outcome"] for line in lines] == ["ok"] * CALLS
        resent = [line.get("resent_on_fresh_connection", 0) for line in lines]
        assert all(n >= 1 for n in resent)  # each call met the kept-alive connection closed, and sent again
        assert sum(resent) == edgy.dropped - dropped  # every request sent again is in the log


def test_the_async_twin_sends_again_too() -> None:
    async def go(url: str) -> list[str]:
        async with nx.AsyncProvider(name="primary", base_url=url, model="stub-model") as ap:
            out = []
            for _ in range(CALLS):
                out.append((await ap.chat(USER, max_tokens=4)).provider)
            return out

    with FaultServer(Fault.OK, drop_reused=True) as edgy:
        assert asyncio.run(go(edgy.base_url)) == ["primary"] * CALLS
        assert edgy.dropped >= CALLS - 1


def test_a_fresh_connection_that_breaks_is_the_servers_failure() -> None:
    """A server that drops the stream it started, on a connection opened for it: not sent again, it counts."""
    with FaultServer(Fault.SSE_CUT, cut_after=0) as cut:
        p = nx.Provider(name="p", base_url=cut.base_url, model="stub-model")
        with pytest.raises(nx.ProviderError):
            "".join(p.stream(USER, max_tokens=4))
        assert cut.calls == 1
        p.close()
