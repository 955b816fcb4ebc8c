"""Integration tests against the real embedded server. LLM text is never compared; its structure is."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import textwrap
import time
import warnings

import httpx2
import pytest

import nxs_lab as nx

USER = [{"role": "user", "content": "Name three colours."}]


def test_lists_chat_and_embedding_models(provider: nx.Provider, local_server: nx.LocalServer) -> None:
    models = {m.id: m for m in provider.list_models()}
    assert models[local_server.chat_alias].kind is nx.ModelKind.CHAT
    assert models[local_server.embed_alias].kind is nx.ModelKind.EMBEDDING
    assert provider.detect_model() == local_server.chat_alias


def test_describe_reports_real_quantization_and_window(local_server: nx.LocalServer) -> None:
    described = {m["id"]: m for m in local_server.describe()}
    chat = described[local_server.chat_alias]
    assert chat["quantization"] == "Q4_1"  # read from the GGUF header, not assumed
    assert chat["n_ctx"] == 2048 and chat["n_ctx_train"] > 2048
    assert chat["size_bytes"] > 50_000_000


def test_chat_returns_a_structured_result(provider: nx.Provider, local_server: nx.LocalServer) -> None:
    r = provider.chat(USER, max_tokens=16)
    assert isinstance(r.text, str) and r.text.strip()
    assert r.provider == "local" and r.model == local_server.chat_alias
    assert r.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens and r.usage.prompt_tokens > 5
    assert 0 < r.usage.completion_tokens <= 16
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.latency_s > 0 and r.ttft_s is None  # unstreamed: no first token was timed
    assert r.message()["role"] == "assistant"
    assert "<table" in r._repr_html_()


def test_max_tokens_cut_is_reported_as_truncated(provider: nx.Provider) -> None:
    r = provider.chat([{"role": "user", "content": "Write a long story about a dragon."}], max_tokens=3)
    assert r.finish_reason == "length" and r.truncated


def test_stream_yields_deltas_and_a_final_result(provider: nx.Provider) -> None:
    s = provider.stream(USER, max_tokens=24)
    deltas = list(s)
    assert len(deltas) > 1 and all(isinstance(d, str) and d for d in deltas)
    assert s.result is not None
    assert "".join(deltas) == s.result.text
    assert s.result.ttft_s is not None and 0 < s.result.ttft_s <= s.result.latency_s
    assert s.result.finish_reason in ("stop", "length")


def test_concurrent_streams_queue_instead_of_cutting_each_other(provider: nx.Provider) -> None:
    """llama-cpp-python's server ends a stream without a finish reason when another request arrives
    (interrupt_requests, on by default); the embedded server turns that off, so both answers finish."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> nx.ChatResult:
        s = provider.stream([{"role": "user", "content": "Count from one to ten."}], max_tokens=24)
        for _delta in s:
            pass
        assert s.result is not None
        return s.result

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(one, range(3)))
    assert all(r.finish_reason in ("stop", "length") and r.text for r in results)


def test_embed_gives_one_pooled_vector_per_input(provider: nx.Provider) -> None:
    texts = ["a local model", "a model in the cloud", "a cat on a mat"]
    vectors = provider.embed(texts)
    assert len(vectors) == 3
    assert {len(v) for v in vectors} == {576}  # SmolLM2's hidden size: mean-pooled, not per token
    assert all(math.isfinite(x) for v in vectors for x in v)
    assert vectors[0] != vectors[2]
    assert provider.embed("one text") and len(provider.embed("one text")) == 1


def test_legacy_completion(provider: nx.Provider) -> None:
    r = provider.complete("The capital of France is", max_tokens=5)
    assert r.endpoint == "completions" and r.text and r.usage.completion_tokens <= 5


def test_responses_api_missing_is_said_clearly(provider: nx.Provider) -> None:
    with pytest.raises(nx.UnsupportedEndpoint, match="no Responses API"):
        provider.respond("hello")


def test_overflow_maps_to_context_overflow_with_numbers(provider: nx.Provider) -> None:
    long = "lorem ipsum dolor sit amet " * 800
    with pytest.raises(nx.ContextOverflow) as info:
        provider.chat([{"role": "user", "content": long}], max_tokens=8)
    err = info.value
    assert err.context_window == 2048
    assert err.prompt_tokens is not None and err.prompt_tokens > 2048
    assert err.status == 400 and err.provider == "local"


def test_async_provider(provider: nx.Provider) -> None:
    async def run() -> tuple[nx.ChatResult, list[str], nx.ChatResult, list[list[float]], nx.Health]:
        async with provider.to_async() as ap:
            r = await ap.chat(USER, max_tokens=8)
            s = await ap.stream(USER, max_tokens=8)
            deltas = [d async for d in s]
            vec = await ap.embed(["x", "y"])
            health = await ap.health()
        assert s.result is not None
        return r, deltas, s.result, vec, health

    r, deltas, streamed, vec, health = asyncio.run(run())
    assert r.text and r.usage.completion_tokens
    assert "".join(deltas) == streamed.text
    assert len(vec) == 2 and len(vec[0]) == 576
    assert health.ok and health.models == 2


def test_health(provider: nx.Provider, refused_url: str) -> None:
    h = provider.health()
    assert h.ok and h.models == 2 and h.error is None
    bad = nx.Provider(name="gone", base_url=refused_url).health()
    assert not bad.ok and "refused" in bad.error


@pytest.mark.server
def test_server_with_a_key_requires_it(tmp_path) -> None:
    secret = "test-key-" + os.urandom(8).hex()
    with nx.LocalServer(api_key=secret, embedding=False, n_ctx=512) as srv:
        assert srv.provider().chat(USER, max_tokens=2).text is not None
        anonymous = nx.Provider(name="anon", base_url=srv.base_url, model=srv.chat_alias)
        with pytest.raises(nx.AuthenticationFailed) as info:
            anonymous.chat(USER, max_tokens=2)
        assert info.value.status == 401
        wrong = nx.Provider(name="wrong", base_url=srv.base_url, api_key="not-" + secret, model=srv.chat_alias)
        with pytest.raises(nx.AuthenticationFailed) as info2:
            wrong.list_models()
        for text in (str(info2.value), repr(info2.value), repr(wrong), repr(srv), srv._repr_html_()):
            assert secret not in text


@pytest.mark.server
def test_stops_cleanly_and_leaves_no_process() -> None:
    srv = nx.LocalServer(embedding=False, n_ctx=256)
    with srv:
        pid = srv.pid
        url = srv.base_url
        assert srv.running
    assert not srv.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not nx.Provider(name="after", base_url=url).health().ok


@pytest.mark.server
def test_server_exits_when_its_parent_dies() -> None:
    code = textwrap.dedent(
        """
        import os, nxs_lab as nx
        srv = nx.LocalServer(embedding=False, n_ctx=256).start()
        print(srv.pid, flush=True)
        os._exit(0)   # no cleanup: the server must notice on its own
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        # A zombie reaped by init also ends up gone; poll until then.
        time.sleep(0.2)
    else:
        os.kill(pid, 9)
        pytest.fail(f"server {pid} outlived its parent")


@pytest.mark.server
def test_startup_failure_carries_the_server_log(tmp_path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is not a GGUF file")
    srv = nx.LocalServer(model_path=bogus, embedding=False, startup_timeout=60)
    with pytest.raises(nx.ServerStartError) as info:
        srv.start()
    assert "exited with code" in str(info.value)
    assert info.value.log_tail  # the server's own words come along
    assert not srv.running


def test_non_loopback_bind_generates_a_key_and_warns() -> None:
    # 192.0.2.1 (TEST-NET-1) is not an address of this machine: bind fails after the warning,
    # so nothing is ever exposed.
    srv = nx.LocalServer(host="192.0.2.1", embedding=False)
    assert srv.api_key is not None and len(srv.api_key.get_secret_value()) >= 24
    assert srv.api_key.get_secret_value() not in repr(srv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(nx.ServerStartError, match=r"cannot bind 192\.0\.2\.1"):
            srv.start()
    assert any("other machines can reach it" in str(w.message) for w in caught)


def test_loopback_bind_needs_no_key() -> None:
    assert nx.LocalServer().api_key is None
    assert json.dumps(nx.LocalServer(host="127.0.0.2").api_key) == "null"


@pytest.mark.server
def test_only_this_machine_may_talk_to_the_embedded_server(local_server: nx.LocalServer) -> None:
    """A web page elsewhere (CORS), a DNS-rebinding page (its own Host), an opaque origin: all refused."""
    url = local_server.base_url + "/models"
    with httpx2.Client(timeout=10) as c:
        assert c.get(url).status_code == 200
        assert c.get(url, headers={"Origin": "http://localhost:8888"}).status_code == 200  # JupyterLab here
        assert c.get(url, headers={"Host": "attacker.example"}).status_code == 421
        assert c.get(url, headers={"Host": f"attacker.example:{local_server.port}"}).status_code == 421
        for origin in ("http://attacker.example", "null", "https://127.0.0.1.attacker.example"):
            r = c.get(url, headers={"Origin": origin})
            assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
        preflight = c.options(
            url, headers={"Origin": "http://attacker.example", "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 403


@pytest.mark.server
def test_the_model_description_names_no_absolute_path(local_server: nx.LocalServer) -> None:
    text = json.dumps(local_server.describe())
    assert os.path.expanduser("~") not in text and "/site-packages/" not in text
    assert all("/" not in m["file"] and m["file"].endswith(".gguf") for m in local_server.describe())


def test_llama_cpp_threads_wait_passively_unless_the_user_chose(
    local_server: nx.LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spinning OpenMP threads stall generation beside any busy process (benchmarks/embedded.py): the launcher runs
    with OMP_WAIT_POLICY=PASSIVE, and a user's own OpenMP setting is left as it is."""
    assert local_server._proc is not None
    with open(f"/proc/{local_server._proc.pid}/environ", "rb") as f:
        assert b"OMP_WAIT_POLICY=PASSIVE" in f.read().split(b"\0")
    unstarted = nx.LocalServer()
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setenv("GOMP_SPINCOUNT", "1000")
    assert "OMP_WAIT_POLICY" not in unstarted._child_env()
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert unstarted._child_env()["OMP_WAIT_POLICY"] == "ACTIVE"
