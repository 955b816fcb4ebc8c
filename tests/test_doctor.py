"""nxs-lab doctor and nx.doctor(): a server found listening on every interface in this machine's socket table (bound
to 0.0.0.0, reached here on the loopback only) and answering without a key is reported with the seed's advice and
the firewall commands; one on the loopback, or wanting a key, is not; a tailnet address is never "exposed"; every
advice block is the same in --json, the table and the notebook's HTML; the exit status says whether to act."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.config import LabConfig
from nxs_lab.discovery.doctor import ACT, OK, _reach
from nxs_lab.testing import FaultServer
from nxs_lab.userconfig import Settings

from .standins import NEEDS_AUTH
from .test_cli_shell import _env

pytestmark = pytest.mark.timeout(120)


def _port(srv: FaultServer) -> int:
    return int(srv.base_url.rsplit(":", 1)[1].split("/")[0])


def _nothing_configured() -> Settings:
    return Settings(LabConfig(), None)


def test_a_server_on_every_interface_without_a_key_is_reported_with_advice() -> None:
    with FaultServer(host="0.0.0.0") as open_server:
        report = nx.doctor(ports=[_port(open_server)], settings=_nothing_configured())
    (exposure,) = [f for f in report.findings if f.check == "exposure"]
    assert exposure.status == ACT and "0.0.0.0" in exposure.detail and "without a key" in exposure.detail
    advice = " ".join(exposure.advice)
    for what in ("ufw", "firewall-cmd", "nft", "macOS", "New-NetFirewallRule", "tailscale serve"):
        assert what in advice, what
    assert report.needs_action


def test_a_loopback_server_and_one_that_wants_a_key_need_nothing() -> None:
    with FaultServer() as local, FaultServer(routes=NEEDS_AUTH, host="0.0.0.0") as keyed:
        report = nx.doctor(ports=[_port(local), _port(keyed)], settings=_nothing_configured())
    exposures = {f.subject: f for f in report.findings if f.check == "exposure"}
    assert [f.status for f in exposures.values()].count(OK) == 1  # the loopback one
    wants_key = next(f for f in exposures.values() if "wants a key" in f.detail)
    assert wants_key.status != ACT and "Tailscale" in " ".join(wants_key.advice)
    assert not any(f.status == ACT and f.check == "exposure" for f in report.findings)


@pytest.mark.parametrize(
    ("addr", "reach"),
    [("127.0.0.1", "this machine"), ("::1", "this machine"), ("0.0.0.0", "every interface"), ("::", "every interface"),
     ("100.101.102.103", "tailnet"), ("192.168.1.20", "the private network")],
)  # fmt: skip
def test_where_a_listening_address_reaches(addr: str, reach: str) -> None:
    assert _reach(addr) == reach


def test_the_advice_is_the_same_in_json_the_table_and_the_notebook(tmp_path: Path) -> None:
    with FaultServer(host="0.0.0.0") as open_server:
        port = str(_port(open_server))
        env = _env(tmp_path)
        as_json = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "doctor", "--json", "--ports", port],
                                 capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
        as_table = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "doctor", "--ports", port],
                                  capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
        shown = nx.doctor(ports=[int(port)], settings=_nothing_configured())._repr_html_()
    assert as_json.returncode == 1 and as_table.returncode == 1  # something to act on
    findings = json.loads(as_json.stdout)
    advice = [line for f in findings for line in f["advice"]]
    assert advice and all(f"  - {line}" in as_table.stdout for line in advice)
    assert all(html.escape(line).replace("\n", "<br>") in shown for line in advice)


def test_nothing_to_act_on_exits_0(tmp_path: Path) -> None:
    with FaultServer() as local:
        config = tmp_path / "c.toml"
        config.write_text(f'[[providers]]\nname = "local"\nbase_url = "{local.base_url}"\n')
        r = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "doctor", "--config", str(config), "--ports",
                            str(_port(local))], capture_output=True, text=True, env=_env(tmp_path), timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configured" in r.stdout and "request log" in r.stdout


def test_each_model_file_here_gets_the_window_it_can_run_with(llama_server: str) -> None:
    """llama-server says where its GGUF file is: the doctor reads the model's real shape from it and names the
    largest common window that fits the memory available now, within what the model was trained for."""
    port = int(llama_server.rsplit(":", 1)[1].split("/")[0])
    report = nx.doctor(ports=[port], settings=_nothing_configured())
    windows = [f for f in report.findings if f.check == "window" and "SmolLM2" in f.subject]
    assert windows, [f.as_row() for f in report.findings]
    advised = int(windows[0].detail.split("window of ", 1)[1].split(" ")[0].replace(",", ""))
    assert windows[0].status == OK and advised in (2048, 4096, 8192) and "trained for 8,192" in windows[0].detail
