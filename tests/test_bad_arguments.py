"""Bad arguments get the kit's clear errors naming the argument, before anything is sent: discovery's timeouts and
ports, a call's numbers, text that is not valid Unicode."""

from __future__ import annotations

import math

import pytest

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, "2"])
def test_discovery_refuses_a_timeout_that_would_find_nothing(bad: object) -> None:
    with pytest.raises(nx.ScanRefused, match="timeout"):
        nx.discover(timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(nx.ScanRefused, match="endpoint_timeout"):
        nx.discover(endpoint_timeout=bad)  # type: ignore[arg-type]


def test_discovery_takes_one_host_as_a_string_and_refuses_ports_as_text() -> None:
    with FaultServer(Fault.OK) as ok:
        port = int(ok.base_url.rsplit(":", 1)[1].split("/")[0])
        found = nx.discover("127.0.0.1", [port])
        assert [e.port for e in found] == [port]
    with pytest.raises(nx.ScanRefused, match=r"ports: '8000' is a str, not a port number"):
        nx.discover(ports=["8000"])  # type: ignore[list-item]


def test_a_calls_numbers_and_text_are_checked_before_sending() -> None:
    with FaultServer(Fault.OK) as ok:
        p = nx.Provider(name="p", base_url=ok.base_url, model="stub-model")
        with pytest.raises(TypeError, match="max_tokens must be a whole number, not str '32'"):
            p.chat([{"role": "user", "content": "hi"}], max_tokens="32")
        with pytest.raises(TypeError, match="temperature must be a number"):
            p.stream([{"role": "user", "content": "hi"}], temperature="hot")
        with pytest.raises(ValueError, match=r"messages\[1\]\['content'\] is not valid Unicode text.*character 3"):
            p.chat([{"role": "system", "content": "ok"}, {"role": "user", "content": "abc\ud800def"}])
        assert ok.requests == 0  # nothing was sent
        p.close()
