"""The kit's log lines: one INFO line per failover, breaker change, cut prompt and refit; never content or keys."""

from __future__ import annotations

import io
import logging

import pytest

import nxs_lab as nx
from nxs_lab.logs import configure, configure_from_env
from nxs_lab.testing import Fault, FaultServer

KEY = "sk-log-test-secret-0123456789abcdef"
SECRET_TEXT = "the launch codes are 0000"


def test_a_failover_is_one_info_line_without_content_or_key(caplog: pytest.LogCaptureFixture) -> None:
    with FaultServer(Fault.STATUS, status=503) as down, FaultServer(Fault.OK) as up:
        chain = nx.FallbackChain(
            [
                nx.Provider(name="down", base_url=down.base_url, model="m", api_key=KEY),
                nx.Provider(name="up", base_url=up.base_url, model="m", api_key=KEY),
            ],
            policy=nx.RetryPolicy(max_retries=0),
        )
        with caplog.at_level(logging.INFO, logger="nxs_lab"):
            result = chain.chat([{"role": "user", "content": SECRET_TEXT}])
        chain.close()
    assert result.provider == "up"
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    failovers = [ln for ln in lines if ln.startswith("failover:")]
    assert failovers == [failovers[0]] and "down chat failed with ServerError (HTTP 503)" in failovers[0]
    text = caplog.text
    assert SECRET_TEXT not in text and KEY not in text


def test_a_breaker_says_when_it_opens_and_closes(caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    b = nx.CircuitBreaker(threshold=1, cooldown=1.0, clock=lambda: clock[0], name="box")
    with caplog.at_level(logging.INFO, logger="nxs_lab"):
        b.record_failure()
        clock[0] = 2.0
        assert b.allow()
        b.record_success()
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "breaker box opened after 1 failure(s): no calls for 1.0 s",
        "breaker box closed: a probe succeeded",
    ]


def test_configure_and_the_environment_variable() -> None:
    out = io.StringIO()
    logger = configure("debug", stream=out)
    try:
        logging.getLogger("nxs_lab.test").debug("hello")
        configure("info", stream=out)  # replaced, not stacked
        logging.getLogger("nxs_lab.test").info("once")
        assert out.getvalue().count("once") == 1 and " DEBUG nxs_lab.test: hello" in out.getvalue()
        with pytest.raises(ValueError, match="not a log level"):
            configure("loud")
        configure_from_env({"NXS_LAB_LOG": "warning"})
        assert logger.level == logging.WARNING
    finally:
        configure("warning", stream=None)
        logger.setLevel(logging.NOTSET)
