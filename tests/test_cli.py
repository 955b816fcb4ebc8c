"""The `nxs-lab` command: serve (as a real subprocess) and models."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import nxs_lab as nx
from nxs_lab.cli import main
from nxs_lab.runbooks import parse_parameter


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("None", None),
        ("12", 12),
        ("0.5", 0.5),
        ("true", True),
        ("False", False),
        ('["a", "b"]', ["a", "b"]),
        ("http://127.0.0.1:1234/v1", "http://127.0.0.1:1234/v1"),
        ("hello world", "hello world"),
    ],
)
def test_parameter_parsing(text: str, value: object) -> None:
    assert parse_parameter(text) == value


def test_models_command(local_server: nx.LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--base-url", local_server.base_url]) == 0
    out = capsys.readouterr().out
    assert local_server.chat_alias in out and "embedding" in out


def test_models_command_on_a_dead_server(refused_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--base-url", refused_url]) == 1
    assert "connection refused" in capsys.readouterr().err


@pytest.mark.timeout(120)
@pytest.mark.server
def test_serve_runs_until_terminated() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nxs_lab.cli", "serve", "--n-ctx", "512", "--no-embedding"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = None
        for line in proc.stdout:
            if line.startswith("base_url: "):
                base_url = line.split(": ", 1)[1].strip()
            if "Ctrl-C" in line:
                break
        assert base_url and base_url.startswith("http://127.0.0.1:")
        p = nx.Provider(name="served", base_url=base_url)
        assert p.chat([{"role": "user", "content": "hi"}], max_tokens=2).usage.completion_tokens
        p.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not nx.Provider(name="after", base_url=base_url).health().ok
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0)
