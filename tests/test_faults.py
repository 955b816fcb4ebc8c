"""The fault kit itself: each mode really misbehaves, and stopping leaks no thread or socket."""

from __future__ import annotations

import contextlib
import gc
import os
import threading

import httpx2
import pytest

from nxs_lab.testing import Fault, FaultServer

pytestmark = pytest.mark.timeout(60)


def _fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def _poke(server: FaultServer, mode: Fault) -> None:
    """One request that the mode answers (or not) in its own way."""
    payload = {"model": "m", "messages": [], "stream": mode is Fault.SSE_CUT}
    with httpx2.Client(timeout=httpx2.Timeout(0.3)) as c:
        with contextlib.suppress(httpx2.TransportError):  # refused, timed out or cut: what these modes are for
            c.post(server.base_url + "/chat/completions", json=payload)


@pytest.mark.parametrize("mode", list(Fault))
def test_no_leaks_after_stop(mode: Fault) -> None:
    before_fds, before_threads = _fds(), threading.active_count()
    with FaultServer(mode, drip_interval=0.5) as server:  # slower than the client waits: it gives up
        _poke(server, mode)
    assert not [t for t in threading.enumerate() if t.name.startswith("fault-")]
    assert threading.active_count() <= before_threads
    assert _fds() <= before_fds


def test_modes_misbehave_as_named() -> None:
    with FaultServer(Fault.STATUS, status=503, headers={"retry-after": "7"}) as s:
        r = httpx2.post(s.base_url + "/chat/completions", json={})
        assert r.status_code == 503 and r.headers["retry-after"] == "7"
    with FaultServer(Fault.HTML_200) as s:
        r = httpx2.get(s.base_url + "/models")
        assert r.status_code == 200 and r.headers["content-type"] == "text/html"
    with FaultServer(Fault.MALFORMED_JSON) as s:
        with pytest.raises(ValueError):
            httpx2.get(s.base_url + "/models").json()
    with FaultServer(Fault.FLAKY, status=500, fail_times=2) as s:
        chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx2.get(s.base_url + "/models").status_code == 200  # a probe is not a call: it never fails
        codes = [httpx2.post(s.base_url + "/chat/completions", json=chat).status_code for _ in range(3)]
        assert codes == [500, 500, 200] and s.requests == 4 and s.calls == 3
    with FaultServer(Fault.HANG) as s:
        with pytest.raises(httpx2.ReadTimeout):
            httpx2.get(s.base_url + "/models", timeout=httpx2.Timeout(0.2))
    with FaultServer(Fault.REFUSE) as s:
        with pytest.raises(httpx2.ConnectError):
            httpx2.get(s.base_url + "/models")
