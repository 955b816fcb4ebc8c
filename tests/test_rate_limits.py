"""Rate limits as the seed and LiteLLM name them: ``rpm`` and ``tpm`` per provider in the settings, kept by the
chain client-side (waiting up to ``rate_wait`` for a slot, else moving on, and saying so in the result and the
log), written into the LiteLLM export so a gateway enforces them for everyone. Real loopback servers."""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.config import LabConfig
from nxs_lab.gateway.export import litellm_config
from nxs_lab.resilience._schedule import estimate_tokens
from nxs_lab.results import Outcome
from nxs_lab.testing import Fault, FaultServer, fault_process

pytestmark = pytest.mark.timeout(120)

USER = [{"role": "user", "content": "hi"}]


def _settings(tmp_path: Path, primary: str, secondary: str, **limits: object) -> LabConfig:
    own = "".join(f"{k} = {json.dumps(v)}\n" for k, v in limits.items())
    path = tmp_path / "config.toml"
    path.write_text(
        f'[[providers]]\nname = "primary"\nbase_url = "{primary}"\nmodel = "stub-model"\npriority = 1\n{own}\n'
        f'[[providers]]\nname = "secondary"\nbase_url = "{secondary}"\nmodel = "stub-model"\npriority = 2\n'
    )
    return LabConfig.load(path)


def test_a_settings_file_with_rpm_is_kept_to_and_says_so(tmp_path: Path) -> None:
    with FaultServer() as primary, FaultServer() as secondary:
        cfg = _settings(tmp_path, primary.base_url, secondary.base_url, rpm=3, rate_wait=0)
        log = nx.RequestLog(tmp_path / "requests.jsonl")
        with nx.FallbackChain.from_config(cfg, log=log) as chain:
            answered = [chain.chat(USER, max_tokens=4) for _ in range(8)]
    assert [r.provider for r in answered] == ["primary"] * 3 + ["secondary"] * 5  # a minute's 3, then elsewhere
    skipped = answered[3].attempts[0]
    assert (skipped.provider, skipped.outcome) == (
        "primary",
        Outcome.SKIPPED_RATE,
    ) and "requests a minute" in skipped.detail
    logged = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert sum(e["outcome"] == Outcome.SKIPPED_RATE.value for e in logged) == 5


def test_the_token_limit_holds_under_20_concurrent_callers(tmp_path: Path) -> None:
    """Twenty streams at once, each booked as its prompt's estimate and its 40-token limit, against tpm = 200:
    while they stream (each takes about 2 s), the primary takes no more than 200 tokens' worth; the rest go to
    the secondary, each saying why."""
    tpm, max_tokens = 200, 40
    cost = estimate_tokens([{"role": "user", "content": "hi 10"}]) + max_tokens
    with fault_process(Fault.OK, "--chunk-interval", "0.3") as primary, fault_process(Fault.OK) as secondary:
        cfg = _settings(tmp_path, primary, secondary, tpm=tpm, rate_wait=0)
        with nx.FallbackChain.from_config(cfg) as chain:

            def one(i: int) -> nx.ChatResult:
                stream = chain.stream([{"role": "user", "content": f"hi {i:02d}"}], max_tokens=max_tokens)
                return stream.collect()

            with concurrent.futures.ThreadPoolExecutor(20) as pool:
                results = list(pool.map(one, range(20)))
    on_primary = [r for r in results if r.provider == "primary"]
    assert 1 <= len(on_primary) <= tpm // cost  # never more than the minute's tokens booked at once
    elsewhere = [r for r in results if r.provider == "secondary"]
    assert len(on_primary) + len(elsewhere) == 20
    assert all(r.attempts[0].outcome is Outcome.SKIPPED_RATE and "tokens a minute" in r.attempts[0].detail
               for r in elsewhere)  # fmt: skip


def test_a_wait_for_a_slot_is_taken_when_configured_and_said() -> None:
    with FaultServer() as ok:
        p = nx.Provider(name="p", base_url=ok.base_url, model="stub-model")
        chain = nx.FallbackChain([p], rate_limits={"p": nx.TokenBucket(rate=10, burst=1)}, rate_waits={"p": 1.0})
        first, second = chain.chat(USER), chain.chat(USER)
        chain.close()
    assert first.attempts[-1].detail == "" and second.provider == "p"
    assert second.attempts[-1].detail.startswith("waited 0.") and "rate limit" in second.attempts[-1].detail


def test_the_litellm_export_carries_rpm_and_tpm(tmp_path: Path) -> None:
    cfg = _settings(tmp_path, "http://127.0.0.1:1234/v1", "http://127.0.0.1:11434/v1", rpm=30, tpm=20000)
    first, second = litellm_config(cfg)["model_list"]
    assert (first["litellm_params"]["rpm"], first["litellm_params"]["tpm"]) == (30, 20000)
    assert "rpm" not in second["litellm_params"] and "tpm" not in second["litellm_params"]


@pytest.mark.parametrize(("key", "value"), [("rpm", 0), ("tpm", -5), ("rpm", "thirty"), ("rate_wait", -1)])
def test_bad_limits_are_named(tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(nx.ConfigError, match=key):
        _settings(tmp_path, "http://127.0.0.1:1234/v1", "http://127.0.0.1:11434/v1", **{key: value})
