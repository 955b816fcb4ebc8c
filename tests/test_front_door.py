"""The embedded server's front door, decision by decision (the server tests send the same through a socket)."""

from __future__ import annotations

import pytest

from nxs_lab.local.frontdoor import FrontDoor, host_of


async def _app(scope: object, receive: object, send: object) -> None:  # never reached in these tests
    raise AssertionError("the app must not be called")


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1:8000", True),
        ("localhost:8000", True),
        ("[::1]:8000", True),
        ("127.0.0.2", True),
        ("attacker.example:8000", False),
        ("192.168.1.5:8000", False),
        ("", False),
    ],
)
def test_loopback_binds_answer_loopback_names_only(host: str, ok: bool) -> None:
    door = FrontDoor(_app, loopback_only=True, api_key=None)
    assert (door.refusal({"host": host}) is None) is ok


@pytest.mark.parametrize(
    ("origin", "ok"),
    [
        ("http://localhost:8888", True),
        ("http://127.0.0.1:8888", True),
        ("http://[::1]:8888", True),
        ("http://192.168.1.5:8000", True),  # the page is on this very server
        ("http://attacker.example", False),
        ("http://127.0.0.1.attacker.example", False),
        ("null", False),
        ("", False),
    ],
)
def test_pages_elsewhere_are_refused(origin: str, ok: bool) -> None:
    door = FrontDoor(_app, loopback_only=False, api_key=None)
    assert (door.refusal({"host": "192.168.1.5:8000", "origin": origin}) is None) is ok


@pytest.mark.parametrize(
    ("auth", "ok"),
    [("Bearer s3cret", True), ("bearer s3cret", True), ("Bearer s3cre", False), ("s3cret", False), ("", False)],
)
def test_the_key_is_required_on_every_path(auth: str, ok: bool) -> None:
    door = FrontDoor(_app, loopback_only=True, api_key="s3cret")
    headers = {"host": "127.0.0.1:1", "authorization": auth}
    assert (door.refusal(headers) is None) is ok


def test_host_of_strips_ports_and_brackets() -> None:
    assert host_of("[::1]:80") == "::1" and host_of("LocalHost:1") == "localhost" and host_of("::1") == "::1"
