"""Proxies as users set them: the environment's HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY for public hosts,
through the kit's own transports (caps and deadlines kept); loopback never, the LAN and tailnet only when a provider
says so; a provider's own ``proxy`` (or none); credentials in a proxy URL never shown. A real recording proxy on
loopback relays to a real stub server, so a public-looking name no resolver knows is reached through it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

import nxs_lab as nx
from nxs_lab._proxy import proxy_for
from nxs_lab.testing import Fault, FaultServer
from nxs_lab.testing.proxy import RecordingProxy

USER = [{"role": "user", "content": "hi"}]
REMOTE = "http://api.example.test/v1"  # public by its name; only the proxy can "reach" it
PROXY_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def test_a_remote_host_goes_through_the_environments_proxy_and_loopback_never(monkeypatch: pytest.MonkeyPatch) -> None:
    with FaultServer(Fault.OK) as upstream, RecordingProxy(upstream.base_url) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with nx.Provider(name="cloud", base_url=REMOTE, model="stub-model") as cloud:
            r = cloud.chat(USER, max_tokens=4)
            stream = cloud.stream(USER, max_tokens=4)
            assert "".join(stream) == stream.result.text
        assert r.provider == "cloud" and r.text
        assert [(m, u) for m, u, _ in proxy.seen] == [("POST", REMOTE + "/chat/completions")] * 2
        with nx.Provider(name="local", base_url=upstream.base_url, model="stub-model") as local:
            local.chat(USER, max_tokens=4)
            nx.discover(hosts=["127.0.0.1"], ports=[int(upstream.base_url.rsplit(":", 1)[1].split("/")[0])])
        assert len(proxy.seen) == 2  # loopback and discovery never went through it
        assert upstream.requests >= 3


def test_the_proxy_keeps_the_kits_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    with FaultServer(Fault.HUGE_BODY, huge_bytes=2_000_000) as upstream, RecordingProxy(upstream.base_url) as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)  # lower case, as many set it
        with nx.Provider(name="cloud", base_url=REMOTE, model="stub-model", max_response_bytes=100_000) as cloud:
            with pytest.raises(nx.ResponseTooLarge):
                cloud.chat(USER, max_tokens=4)
        assert len(proxy.seen) == 1


def test_which_hosts_are_proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://corp:3128")
    monkeypatch.setenv("ALL_PROXY", "http://all:3128")
    assert proxy_for("https://api.moonshot.ai/v1", None) == "http://corp:3128"
    assert proxy_for("http://api.moonshot.ai/v1", None) == "http://all:3128"  # no HTTP_PROXY: ALL_PROXY
    for direct in ("http://127.0.0.1:1234/v1", "http://localhost:11434/v1", "http://192.168.1.20:1234/v1",
                   "http://100.101.102.103:8080/v1", "http://gpu-box:8000/v1", "http://nas.lan:8000/v1"):  # fmt: skip
        assert proxy_for(direct, None) is None, direct  # loopback, LAN, tailnet: direct
    own = SecretStr("http://lan-proxy:3128")
    assert proxy_for("http://192.168.1.20:1234/v1", own) == "http://lan-proxy:3128"  # the user said so
    assert proxy_for("http://127.0.0.1:1234/v1", own) is None  # loopback never
    assert proxy_for("https://api.moonshot.ai/v1", False) is None  # this provider: none
    monkeypatch.setenv("NO_PROXY", "internal.example, .moonshot.ai,10.0.0.0/8")
    assert proxy_for("https://api.moonshot.ai/v1", None) is None
    assert proxy_for("https://internal.example/v1", None) is None
    assert proxy_for("https://api.openai.com/v1", None) == "http://corp:3128"
    monkeypatch.setenv("NO_PROXY", "*")
    assert proxy_for("https://api.openai.com/v1", None) is None


def test_a_proxys_credentials_are_never_shown(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    with FaultServer(Fault.OK) as upstream, RecordingProxy(upstream.base_url) as proxy:
        host = proxy.url.split("//", 1)[1]
        secret = f"http://alice:s3cret-pw@{host}"
        with nx.Provider(name="cloud", base_url=REMOTE, model="stub-model", proxy=secret) as cloud:
            cloud.chat(USER, max_tokens=4)
            assert "s3cret" not in repr(cloud) and "s3cret" not in repr(cloud.config)
        assert proxy.seen[0][2] is not None and proxy.seen[0][2].startswith("Basic ")  # the proxy got them
    dead = "http://alice:s3cret-pw@127.0.0.1:9"
    with nx.Provider(name="cloud", base_url=REMOTE, model="stub-model", proxy=dead) as cloud:
        with pytest.raises(nx.ProviderError) as info:
            cloud.chat(USER, max_tokens=4)
    assert "s3cret" not in str(info.value) and "s3cret" not in caplog.text
    with pytest.raises(nx.ConfigError, match="proxy") as bad:
        with nx.Provider(name="cloud", base_url=REMOTE, model="m", proxy="ftp://bob:pw-9@h:21") as p:
            p.chat(USER)
    assert "pw-9" not in str(bad.value)


def test_a_settings_file_names_a_providers_proxy_or_none(tmp_path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[[providers]]\nname = "lan"\nbase_url = "http://192.168.1.20:1234/v1"\nproxy = "http://u:pw@lan-proxy:3128"\n'
        '[[providers]]\nname = "cloud"\nbase_url = "https://api.moonshot.ai/v1"\nproxy = false\n'
    )
    lab = nx.LabConfig.load(cfg)
    lan, cloud = lab.providers
    assert proxy_for(lan.base_url, lan.proxy) == "http://u:pw@lan-proxy:3128" and cloud.proxy is False
    assert "pw" not in repr(lan)
    cfg.write_text('[[providers]]\nname = "x"\nbase_url = "https://a.example/v1"\nproxy = true\n')
    with pytest.raises(nx.ConfigError, match="proxy"):
        nx.LabConfig.load(cfg)
