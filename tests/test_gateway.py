"""The team gateway: the LiteLLM export tested by value, and the real LiteLLM proxy started on loopback with it,
answering through the embedded server with a refused and a hung provider in front; the command line's export and
gateway; discovery naming the proxy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import nxs_lab as nx
from nxs_lab.config import LabConfig
from nxs_lab.gateway import ALIAS, MASTER_KEY_ENV, litellm_config, to_yaml
from nxs_lab.testing import Fault, FaultServer

KEY = "sk-gateway-test-0123456789abcdef"


def _has_litellm() -> bool:
    from nxs_lab.gateway.proxy import litellm_executable

    try:
        litellm_executable()
    except nx.MissingDependency:
        return False
    return True


needs_litellm = pytest.mark.skipif(
    not _has_litellm(), reason="LiteLLM's proxy is not installed: bash scripts/install_gateway.sh (test.sh does it)"
)


def _lab(*providers: dict) -> LabConfig:
    return LabConfig.model_validate({"providers": list(providers)})


LMSTUDIO = {
    "name": "lmstudio", "base_url": "http://127.0.0.1:1234/v1", "model": "qwen2.5-7b", "priority": 1,
    "context_window": 8192, "max_tokens": 512, "allowed_models": ["qwen2.5-7b", "gemma-3-4b"],
}  # fmt: skip
KIMI = {
    "name": "kimi", "base_url": "https://api.moonshot.ai/v1", "model": "kimi-k2", "priority": 3,
    "api_key_env": "MOONSHOT_API_KEY", "timeouts": {"connect": 3, "first_byte": 60, "idle": 30, "total": 90},
}  # fmt: skip


def test_the_mapping_by_value() -> None:
    out = litellm_config(_lab(KIMI, LMSTUDIO))
    assert yaml.safe_load(to_yaml(out)) == out  # what is written reads back as exactly this
    first, second, kimi = out["model_list"]
    assert first == {
        "model_name": "lmstudio",
        "litellm_params": {
            "model": "openai/qwen2.5-7b", "api_base": "http://127.0.0.1:1234/v1", "api_key": "none",
            "timeout": 120.0, "stream_timeout": 120.0, "max_tokens": 512,
        },
        "model_info": {"max_input_tokens": 8192},
    }  # fmt: skip
    assert second["model_name"] == "lmstudio/gemma-3-4b" and second["litellm_params"]["model"] == "openai/gemma-3-4b"
    assert kimi["litellm_params"]["api_key"] == "os.environ/MOONSHOT_API_KEY"  # the key stays in the environment
    assert (kimi["litellm_params"]["timeout"], kimi["litellm_params"]["stream_timeout"]) == (90, 60)
    assert kimi["model_info"] == {}
    assert out["router_settings"] == {
        "num_retries": 0, "allowed_fails": 0, "cooldown_time": 30.0,
        "fallbacks": [{"lmstudio": ["kimi"]}, {ALIAS: ["kimi"]}],
        "model_group_alias": {ALIAS: "lmstudio"}, "enable_pre_call_checks": True,
    }  # fmt: skip
    assert out["general_settings"] == {"master_key": f"os.environ/{MASTER_KEY_ENV}"}


def test_what_cannot_be_exported_is_named() -> None:
    with pytest.raises(nx.ConfigError, match="key on disk"):
        litellm_config(_lab(dict(KIMI, api_key=KEY, api_key_env=None)))
    with pytest.raises(nx.ConfigError, match="set model"):
        litellm_config(_lab(dict(LMSTUDIO, model=None)))
    with pytest.raises(nx.ConfigError, match="nothing to export"):
        litellm_config(_lab())
    with pytest.raises(nx.ConfigError, match="alias"):
        litellm_config(_lab(dict(LMSTUDIO, name=ALIAS)))


def test_the_command_line_exports(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[providers]]\nname = "box"\nbase_url = "http://127.0.0.1:8000/v1"\nmodel = "m"\n')
    r = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "--config", str(cfg), "export", "litellm"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(r.stdout)["model_list"][0]["litellm_params"]["api_base"] == "http://127.0.0.1:8000/v1"


@needs_litellm
@pytest.mark.timeout(300)
def test_the_real_proxy_answers_through_the_embedded_server_past_dead_ones(local_server: nx.LocalServer) -> None:
    """A refused provider and a hung one in front: the first call waits for the hung one's timeout once; after
    that both are in cooldown and skipped, so calls cost what the embedded server takes."""
    from nxs_lab.gateway.proxy import Gateway

    model = local_server.chat_alias
    with FaultServer(Fault.REFUSE) as dead, FaultServer(Fault.HANG) as hung:
        cfg = _lab(
            {"name": "hung", "base_url": hung.base_url, "model": model, "priority": 1,
             "timeouts": {"connect": 0.5, "first_byte": 2.0, "idle": 2.0}},
            {"name": "dead", "base_url": dead.base_url, "model": model, "priority": 2},
            {"name": "embedded", "base_url": local_server.base_url, "model": model, "priority": 3,
             "context_window": 2048},
        )  # fmt: skip
        with Gateway(cfg, master_key=KEY) as gw:
            assert gw.base_url.startswith("http://127.0.0.1:") and KEY not in repr(gw)
            p = gw.provider()
            seconds = []
            for _ in range(3):
                t0 = time.perf_counter()
                r = p.chat([{"role": "user", "content": "Say hi."}], max_tokens=4)
                seconds.append(time.perf_counter() - t0)
                assert r.text and r.usage.completion_tokens
            assert hung.requests >= 1 and seconds[0] >= 2.0  # the hung one was waited on, once
            hung_seen = hung.requests
            p.chat([{"role": "user", "content": "Again."}], max_tokens=4)
            assert hung.requests == hung_seen  # in cooldown: skipped, not waited on
            refused = nx.Provider(name="wrongkey", base_url=gw.base_url, model=ALIAS, api_key="sk-not-the-master-key")
            with pytest.raises(nx.AuthenticationFailed) as refusal:  # no database: LiteLLM says 400, an auth_error
                refused.chat([{"role": "user", "content": "hi"}], max_tokens=2)
            assert refusal.value.status in (400, 401) and "sk-not-the-master-key" not in str(refusal.value)
            found = nx.discover(["127.0.0.1"], [gw.port], progress=False)
            assert [e.kind for e in found] == ["litellm"]
            p.close()
            refused.close()
        assert not gw.running


@needs_litellm
def test_gateway_refuses_to_print_a_generated_key_into_a_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[providers]]\nname = "box"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n')
    env = {k: v for k, v in os.environ.items() if k != MASTER_KEY_ENV}
    r = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "--config", str(cfg), "gateway", "--port", "0"],
                       capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert r.returncode == 2 and MASTER_KEY_ENV in r.stderr and "sk-nxs-" not in r.stdout + r.stderr


def test_the_breaker_cooldown_maps_when_the_settings_give_one() -> None:
    assert litellm_config(_lab(LMSTUDIO))["router_settings"]["cooldown_time"] == 30.0
    cfg = LabConfig.model_validate({"providers": [LMSTUDIO], "breaker": {"cooldown": 120}})
    assert litellm_config(cfg)["router_settings"]["cooldown_time"] == 120.0
    assert litellm_config(cfg, cooldown_s=7)["router_settings"]["cooldown_time"] == 7


@needs_litellm
@pytest.mark.timeout(300)
def test_the_gateway_keeps_every_client_to_the_settings_rpm() -> None:
    """rpm = 2 on the only provider: LiteLLM's router, started by the kit with the exported settings, answers two
    calls in the minute and refuses the third as rate-limited, whoever the client is."""
    from nxs_lab.gateway.proxy import Gateway

    with FaultServer(Fault.OK) as ok:
        cfg = _lab({"name": "box", "base_url": ok.base_url, "model": "stub-model", "priority": 1, "rpm": 2})
        with Gateway(cfg, master_key=KEY) as gw:
            p = gw.provider()
            answered = [p.chat([{"role": "user", "content": f"hi {i}"}], max_tokens=2) for i in range(2)]
            with pytest.raises(nx.RateLimited):
                p.chat([{"role": "user", "content": "one more"}], max_tokens=2)
            p.close()
    assert all(r.text for r in answered) and ok.calls == 2  # the third never reached the server
