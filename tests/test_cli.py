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
        [sys.executable, "-m", "nxs_lab.cli", "serve", "--port", "0", "--n-ctx", "512", "--no-embedding"],
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


def test_serve_listens_where_discovery_looks() -> None:
    from nxs_lab.cli import build_parser
    from nxs_lab.defaults import DEFAULT_PORTS, SERVE_PORT

    assert build_parser().parse_args(["serve"]).port == SERVE_PORT and SERVE_PORT in DEFAULT_PORTS


def test_serve_on_a_taken_port_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code = main(["serve", "--port", str(taken.getsockname()[1]), "--no-embedding"])
    err = capsys.readouterr().err
    assert code == 1 and "cannot bind" in err and "0 for a free one" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["serve", "--port", "99999"], "not a TCP port"),
        (["discover", "--ports", "abc"], "not a port number"),
        (["discover", "--ports", "80,0"], "from 1 to 65535"),
        (["discover", "--timeout", "nan"], "greater than 0"),
        (["serve", "--n-ctx", "-5"], "greater than 0"),
    ],
)
def test_bad_arguments_get_one_line_not_a_traceback(argv: list[str], said: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and said in err and "Traceback" not in err


def test_a_bad_base_url_is_named(capsys) -> None:
    assert main(["models", "--base-url", "notaurl"]) == 2
    err = capsys.readouterr().err
    assert "base_url" in err and "http:// or https://" in err and "Traceback" not in err


def test_a_key_pasted_for_a_variable_name_is_not_echoed(capsys, monkeypatch) -> None:
    monkeypatch.setenv("NXS_TEST_EMPTY", "")
    secret = "sk-live-0123456789abcdef"
    assert main(["models", "--base-url", "http://127.0.0.1:9/v1", "--api-key-env", secret]) == 2
    assert main(["models", "--base-url", "http://127.0.0.1:9/v1", "--api-key-env", "NXS_TEST_EMPTY"]) == 2
    err = capsys.readouterr().err
    assert secret not in err and "NAME of an environment variable" in err and "NXS_TEST_EMPTY is empty" in err


def test_serve_refuses_to_print_a_generated_key_into_a_log(capsys) -> None:
    # stdout is captured here, not a terminal: a non-loopback bind without a key must refuse, not print one
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "--api-key-env" in capsys.readouterr().err


def test_run_names_the_shipped_runbooks_when_one_is_not_found(capsys, tmp_path) -> None:
    assert main(["run", "quickstrat", "--runs-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "'quickstrat'" in err and "quickstart, discovery" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing was started


@pytest.mark.timeout(120)
@pytest.mark.server
def test_serve_beyond_the_loopback_demands_the_key_and_says_how_to_keep_it_close(tmp_path) -> None:
    """Bound to every interface (reached here on the loopback only): a request without the key is refused, one
    with it answers; the banner says so and points to Tailscale. Without a key and with no terminal to show a
    generated one, it refuses to start."""
    import httpx2

    refused = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 2 and "needs an API key" in refused.stderr
    env = {**os.environ, "SERVE_TEST_KEY": "sk-serve-test-0123456789"}
    argv = [sys.executable, "-m", "nxs_lab.cli", "serve", "--host", "0.0.0.0", "--port", "0", "--n-ctx", "512",
            "--no-embedding", "--api-key-env", "SERVE_TEST_KEY"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner: list[str] = []
        for line in proc.stdout:
            banner.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(banner)
        port = int(next(ln for ln in banner if ln.startswith("base_url: ")).rsplit(":", 1)[1].split("/")[0])
        assert "needs the API key" in text and "Tailscale" in text and "sk-serve-test" not in text
        url = f"http://127.0.0.1:{port}/v1/models"
        assert httpx2.get(url, timeout=10).status_code == 401
        ok = httpx2.get(url, headers={"Authorization": "Bearer sk-serve-test-0123456789"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["data"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
