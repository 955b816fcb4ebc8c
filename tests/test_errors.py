"""The exception tree and the one translation boundary: tables for the pure parts, real sockets for the rest."""

from __future__ import annotations

import asyncio
import email.utils
import threading

import httpx2
import pytest

import nxs_lab as nx
from nxs_lab.client._boundary import parse_retry_after, status_error
from nxs_lab.context.overflow import parse_overflow
from nxs_lab.testing import Fault, FaultServer


def test_tree_is_rooted_in_one_base() -> None:
    for name in nx.__all__:
        obj = getattr(nx, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, nx.NxsLabError), name
    assert issubclass(nx.ContextOverflow, nx.BadRequest)
    assert issubclass(nx.ConnectTimeout, nx.ConnectionFailed)


OVERFLOW_TABLE = [
    # (status, body, expected (prompt, window, shape) or None)
    (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 2048 tokens. However, you requested 3020 "
                "tokens (3010 in the messages, 10 in the completion). Please reduce the length of the messages or completion.",
                "code": "context_length_exceeded",
            }
        },
        (3010, 2048, "openai"),
    ),
    (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 4096 tokens, however you requested 5000 tokens "
                "(4900 in your prompt; 100 for the completion)."
            }
        },
        (4900, 4096, "openai"),
    ),
    (
        400,  # vLLM
        {
            "object": "error",
            "message": "This model's maximum context length is 8192 tokens. However, you requested "
            "9000 tokens in the messages, Please reduce the length of the messages.",
            "type": "BadRequestError",
        },
        (9000, 8192, "openai"),
    ),
    (
        400,  # llama.cpp llama-server
        {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 5000,
                "n_ctx": 4096,
            }
        },
        (5000, 4096, "llama.cpp"),
    ),
    (
        400,  # LM Studio
        {
            "error": "Trying to keep the first 6000 tokens when context the overflows. However, the model is loaded "
            "with context length of 4096 tokens, which is not enough. Try to load the model with a larger context length"
        },
        (6000, 4096, "lmstudio"),
    ),
    (400, {"error": {"message": "Input is too long for requested model."}}, (None, None, "generic")),
    (400, {"error": {"message": "temperature must be between 0 and 2"}}, None),
    (500, {"error": {"message": "maximum context length is 10 tokens, you requested 20 tokens"}}, None),
    (400, "prompt is too long: 210000 tokens > 200000 maximum", (None, None, "generic")),
]


@pytest.mark.parametrize(("status", "body", "expected"), OVERFLOW_TABLE)
def test_overflow_shapes(status, body, expected) -> None:
    info = parse_overflow(status, body)
    if expected is None:
        assert info is None
    else:
        assert info is not None
        assert (info.prompt_tokens, info.context_window, info.shape) == expected


FROZEN = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),
        ({"retry-after": email.utils.formatdate(FROZEN + 7, usegmt=True)}, 7.0),
        ({"retry-after": email.utils.formatdate(FROZEN - 7, usegmt=True)}, 0.0),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "tomorrow-ish"}, None),
    ],
)
def test_retry_after_table(headers, expected) -> None:
    got = parse_retry_after(httpx2.Headers(headers), now=FROZEN)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("status", "body", "path", "cls"),
    [
        (401, {"error": {"message": "Invalid API key"}}, "/v1/chat/completions", nx.AuthenticationFailed),
        (403, {"error": {"message": "forbidden"}}, "/v1/chat/completions", nx.AuthenticationFailed),
        (429, {"error": {"message": "slow down"}}, "/v1/chat/completions", nx.RateLimited),
        (404, {"error": {"message": "model 'llama-9' not found"}}, "/v1/chat/completions", nx.ModelNotFound),
        (404, {"detail": "Not Found"}, "/v1/responses", nx.UnsupportedEndpoint),
        (404, "Not Found", "/api/v0/models", nx.UnsupportedEndpoint),
        (500, {"error": {"message": "boom"}}, "/v1/chat/completions", nx.ServerError),
        (503, "upstream unavailable", "/v1/chat/completions", nx.ServerError),
        (400, {"error": {"message": "The model `gpt-9` does not exist"}}, "/v1/chat/completions", nx.ModelNotFound),
        (400, {"error": {"message": "bad temperature"}}, "/v1/chat/completions", nx.BadRequest),
        (422, {"detail": [{"msg": "field required"}]}, "/v1/chat/completions", nx.BadRequest),
        (400, OVERFLOW_TABLE[0][1], "/v1/chat/completions", nx.ContextOverflow),
    ],
)
def test_status_table(status, body, path, cls) -> None:
    headers = httpx2.Headers({"x-request-id": "req-1", "retry-after": "2"})
    err = status_error(status, body, headers, provider="p", base_url="http://h/v1", path=path)
    assert type(err) is cls
    assert err.status == status and err.request_id == "req-1" and err.provider == "p"
    if cls is nx.RateLimited:
        assert err.retry_after == 2.0


@pytest.mark.timeout(30)
def test_refused_connection_is_a_clear_error(refused_url: str) -> None:
    p = nx.Provider(name="down", base_url=refused_url, model="m")
    with pytest.raises(nx.ConnectionFailed, match="refused") as info:
        p.chat([{"role": "user", "content": "hi"}])
    assert not isinstance(info.value, nx.ConnectTimeout)
    assert info.value.status is None and info.value.provider == "down"


@pytest.mark.timeout(30)  # a hang guard, not a timing assertion: the error type proves which timeout fired
def test_unanswered_connect_raises_connect_timeout(blackhole_url: str) -> None:
    p = nx.Provider(name="hole", base_url=blackhole_url, model="m", timeouts=nx.Timeouts(connect=0.3))
    with pytest.raises(nx.ConnectTimeout):
        p.chat([{"role": "user", "content": "hi"}])


@pytest.mark.timeout(30)  # a hang guard: the async connect's timeout is kept by a watchdog, and still fires
def test_unanswered_async_connect_raises_connect_timeout(blackhole_url: str) -> None:
    async def call() -> None:
        async with nx.AsyncProvider(
            name="hole", base_url=blackhole_url, model="m", timeouts=nx.Timeouts(connect=0.3)
        ) as p:
            await p.chat([{"role": "user", "content": "hi"}])

    with pytest.raises(nx.ConnectTimeout):
        asyncio.run(call())


@pytest.mark.timeout(120)
def test_a_starved_event_loop_does_not_make_a_healthy_server_look_dead() -> None:
    """Threads holding the GIL starve the loop; a wall-clock 0.5 s connect timeout then fired before most connects
    were even tried (192 of 200 calls to a healthy loopback server failed). Loop time the client could not use is
    not held against the server."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    async def burst(url: str) -> list[object]:
        async with nx.AsyncProvider(name="ok", base_url=url, model="stub-model") as p:  # loopback: connect 0.5 s
            calls = (p.chat([{"role": "user", "content": "hi"}], max_tokens=1) for _ in range(100))
            return await asyncio.gather(*calls, return_exceptions=True)

    spinners = [threading.Thread(target=spin, daemon=True) for _ in range(3)]
    with FaultServer(Fault.OK) as ok:
        for t in spinners:
            t.start()
        try:
            results = asyncio.run(burst(ok.base_url))
        finally:
            stop.set()
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, f"{len(failed)} of 100 calls failed, first: {failed[0]!r}"
    assert all(isinstance(r, nx.ChatResult) for r in results)


@pytest.mark.timeout(30)
def test_unresolvable_host() -> None:
    p = nx.Provider(name="nowhere", base_url="http://no-such-host.invalid:1234/v1", model="m")
    with pytest.raises(nx.ConnectionFailed) as info:
        p.list_models()
    assert "resolve" in str(info.value) or "could not connect" in str(info.value)


def _counting_transport(handler):
    seen: list[httpx2.Request] = []

    def wrapped(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return handler(request)

    return httpx2.MockTransport(wrapped), seen


def test_model_outside_allowlist_is_refused_before_sending() -> None:
    transport, seen = _counting_transport(lambda r: httpx2.Response(200, json={"data": []}))
    p = nx.Provider(
        name="cloud",
        base_url="https://api.example.com/v1",
        api_key="k",
        allowed_models=["kimi-k2"],
        transport=transport,
    )
    with pytest.raises(nx.ModelNotAllowed, match="does not allow model 'gpt-4o'"):
        p.chat([{"role": "user", "content": "hi"}], model="gpt-4o")
    with pytest.raises(nx.ModelNotAllowed):
        p.embed(["x"], model="text-embedding-3-small")
    assert seen == []  # nothing left the machine


def test_html_page_with_200_is_invalid_response() -> None:
    transport, _ = _counting_transport(
        lambda r: httpx2.Response(
            200, text="<html><body>captive portal</body></html>", headers={"content-type": "text/html"}
        )
    )
    p = nx.Provider(name="portal", base_url="http://127.0.0.1:9/v1", transport=transport, model="m")
    with pytest.raises(nx.InvalidResponse, match="did not return JSON"):
        p.list_models()
    with pytest.raises(nx.InvalidResponse):
        p.chat([{"role": "user", "content": "hi"}])


def test_detect_model_skips_embedding_models() -> None:
    payload = {
        "object": "list",
        "data": [
            {"id": "text-embedding-nomic-embed-text-v1.5", "object": "model"},
            {"id": "qwen2.5-7b-instruct", "object": "model"},
        ],
    }
    transport, _ = _counting_transport(lambda r: httpx2.Response(200, json=payload))
    p = nx.Provider(name="lm", base_url="http://127.0.0.1:1234/v1", transport=transport)
    assert p.detect_model() == "qwen2.5-7b-instruct"
    assert p.detect_embedding_model() == "text-embedding-nomic-embed-text-v1.5"


def test_bad_messages_are_rejected_with_the_position() -> None:
    p = nx.Provider(name="x", base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(TypeError, match=r"messages\[1\]"):
        p.chat([{"role": "user", "content": "a"}, "oops"])
    with pytest.raises(TypeError, match="non-empty list"):
        p.chat("hello")


@pytest.mark.parametrize(
    "error",
    [
        {"message": "Authentication Error, Invalid proxy server token passed.", "type": "auth_error", "code": "400"},
        {"message": "No connected db.", "type": "no_db_connection", "param": None, "code": "400"},  # LiteLLM, no DB
    ],
)
def test_litellms_400_for_a_wrong_key_is_an_authentication_failure(error: dict) -> None:
    with FaultServer(Fault.STATUS, status=400, body={"error": error}) as litellm, FaultServer(Fault.OK) as ok:
        chain = nx.FallbackChain(
            [
                nx.Provider(name="gateway", base_url=litellm.base_url, model="m", api_key="sk-wrong"),
                nx.Provider(name="other", base_url=ok.base_url, model="m"),
            ]
        )
        r = chain.chat([{"role": "user", "content": "hi"}], max_tokens=2)
        assert r.provider == "other"
        assert [a.error for a in r.attempts if a.provider == "gateway"] == ["AuthenticationFailed"]
        chain.close()
