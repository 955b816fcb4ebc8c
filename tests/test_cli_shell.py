"""The command line as a user runs it: subprocesses against the embedded server and the fault kit (ask, stdin,
chat through a pty, --json parsed, status with a dead provider, --version, where settings come from, run's
parameters and runs folder, logs), and the failover log line."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer
from nxs_lab.userconfig import Settings

pytestmark = pytest.mark.timeout(300)

NXS = [sys.executable, "-m", "nxs_lab.cli"]
KEY = "sk-test-secret-never-shown-0123456789"


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: the user's own config folder and provider variables kept out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NXS_LAB", "OPENAI_", "OLLAMA_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"), **extra)
    return env


def _nxs(args: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*NXS, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=240)


def _config(path: Path, *providers: tuple[str, str, int], runs_dir: str | None = None) -> Path:
    lines = [f'runs_dir = "{runs_dir}"'] if runs_dir else []
    for name, url, priority in providers:
        lines += ["[[providers]]", f'name = "{name}"', f'base_url = "{url}"', f"priority = {priority}"]
        lines += ['api_key_env = "TEST_KEY"'] if name == "dead" else []
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_ask_fails_over_and_says_who_answered(local_server: nx.LocalServer, refused_url: str, home: Path) -> None:
    cfg = _config(home / "c.toml", ("dead", refused_url, 1), ("embedded", local_server.base_url, 2))
    env = _env(home, TEST_KEY=KEY)
    r = _nxs(["--config", str(cfg), "-v", "ask", "--max-tokens", "16", "Name a colour."], home, env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()  # the answer, and only the answer, on stdout
    said = [ln for ln in r.stderr.splitlines() if ln.startswith("[embedded")]
    assert said and "after dead failed (ConnectionFailed)" in said[0]
    failover = [ln for ln in r.stderr.splitlines() if "failover:" in ln]
    assert len(failover) == 1 and " INFO nxs_lab.fallback: failover: dead stream failed" in failover[0]
    assert "colour" not in r.stderr.lower() and KEY not in r.stderr  # never content, never a key
    # no runs folder set: the user's data folder keeps the log, never the working folder
    assert not (home / "runs").exists()
    log = [json.loads(ln) for ln in (home / ".local/share/nxs-lab/requests.jsonl").read_text().splitlines()]
    assert [(e["provider"], e["outcome"]) for e in log] == [("dead", "failed"), ("embedded", "ok")]
    assert all("content" not in e for e in log)

    piped = _nxs(
        ["--config", str(cfg), "ask", "--provider", "embedded", "--max-tokens", "8"], home, env, "What is 2+2?"
    )
    assert piped.returncode == 0 and piped.stdout.strip() and "[embedded" in piped.stderr
    shown = _nxs(["--config", str(cfg), "logs", "--json", "-n", "1"], home, env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["provider"] == "embedded"


def test_status_lists_each_provider_with_the_dead_one_down(
    local_server: nx.LocalServer, refused_url: str, home: Path
) -> None:
    cfg = _config(home / "c.toml", ("dead", refused_url, 1), ("embedded", local_server.base_url, 2))
    r = _nxs(["--config", str(cfg), "status", "--json"], home, _env(home, TEST_KEY=KEY))
    assert r.returncode == 0, r.stderr
    rows = {row["provider"]: row for row in json.loads(r.stdout)}
    assert rows["dead"]["up"] is False and "refused" in rows["dead"]["error"]
    up = rows["embedded"]
    assert up["up"] and up["model"] == local_server.chat_alias and up["window"] == 2048 and up["breaker"] == "closed"
    assert up["from"] == f"config file {cfg}" and KEY not in r.stdout
    table = _nxs(["--config", str(cfg), "status"], home, _env(home, TEST_KEY=KEY))
    assert "embedded" in table.stdout and "dead:" in table.stdout


def test_discover_and_models_give_json_for_jq(local_server: nx.LocalServer, home: Path) -> None:
    port = local_server.base_url.rsplit(":", 1)[1].split("/")[0]
    r = _nxs(["discover", "127.0.0.1", "--ports", port, "--json"], home, _env(home))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)  # one row per model served
    assert {e["kind"] for e in rows} == {"llama-cpp-python server"} and local_server.chat_alias in {
        e["model"] for e in rows
    }
    models = json.loads(_nxs(["models", "--base-url", local_server.base_url, "--json"], home, _env(home)).stdout)
    assert {m["kind"] for m in models} == {"chat", "embedding"}


def test_version_and_exit_codes(home: Path) -> None:
    r = _nxs(["--version"], home, _env(home))
    assert r.returncode == 0 and r.stdout.strip() == f"nxs-lab {nx.__version__}"
    nothing = _nxs(["ask", "hi"], home, _env(home, NXS_LAB_AUTO="0"))  # nothing configured, nothing looked for
    assert nothing.returncode == 2 and "no server answers" in nothing.stderr and "OLLAMA_HOST" in nothing.stderr
    wrong = _nxs(["--config", str(home / "missing.toml"), "status"], home, _env(home))
    assert wrong.returncode == 2 and "file not found" in wrong.stderr


def test_settings_come_from_the_explicit_file_then_the_variable_then_the_user_folder(tmp_path: Path) -> None:
    explicit = _config(tmp_path / "explicit.toml", ("a", "http://127.0.0.1:1/v1", 1))
    named = _config(tmp_path / "named.toml", ("b", "http://127.0.0.1:2/v1", 1))
    user = tmp_path / "user" / "config.toml"
    user.parent.mkdir()
    _config(user, ("c", "http://127.0.0.1:3/v1", 1), runs_dir="elsewhere")
    env = {"NXS_LAB_CONFIG": str(named), "OLLAMA_HOST": "0.0.0.0:11500"}
    assert [p.name for p in Settings.find(explicit, environ=env, default_file=user).config.providers] == ["a"]
    assert [p.name for p in Settings.find(environ=env, default_file=user).config.providers] == ["b"]
    found = Settings.find(environ={}, default_file=user)
    assert [p.name for p in found.config.providers] == ["c"] and found.config.runs_dir == "elsewhere"
    assert found.origins["c"] == f"config file {user}"
    from_env = Settings.find(environ={"OLLAMA_HOST": "0.0.0.0:11500", "OPENAI_API_KEY": KEY}, default_file=None)
    assert [(p.name, p.base_url) for p in from_env.config.providers] == [
        ("ollama", "http://127.0.0.1:11500/v1"),
        ("openai", "https://api.openai.com/v1"),
    ]
    assert from_env.origins["openai"] == "environment variable OPENAI_API_KEY" and KEY not in repr(from_env)
    with pytest.raises(nx.ConfigError, match="NXS_LAB_CONFIG"):
        Settings.find(environ={"NXS_LAB_CONFIG": str(tmp_path / "nope.toml")}, default_file=None)


@pytest.mark.server
def test_run_takes_papermill_parameters_and_honours_the_runs_dir_variable(home: Path) -> None:
    params = home / "params.yaml"
    params.write_text("n_ctx: 512\nquestion: from the file\n")
    env = _env(home, NXS_LAB__RUNS_DIR=str(home / "from-env"))
    r = _nxs(["run", "quickstart", "-q", "-f", str(params), "-y", "question: from yaml"], home, env)
    assert r.returncode == 0, r.stderr
    out = Path(r.stdout.split("output: ", 1)[1].strip())
    assert out.is_relative_to(home / "from-env")
    injected = json.dumps(json.loads(out.read_text())["cells"])
    assert "from yaml" in injected and "n_ctx = 512" in injected
    bad = _nxs(["run", "quickstart", "-y", "[1, 2]"], home, env)
    assert bad.returncode == 2 and "must be a mapping" in bad.stderr


class _Terminal:
    """The parent's side of a pty: ``expect`` reads until a marker, keeping what came after it for the next call
    (a prompt can arrive in the same read as the answer before it)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer = fd, ""

    def expect(self, marker: str, timeout: float = 120.0) -> str:
        end = time.monotonic() + timeout
        while marker not in self.buffer:
            if time.monotonic() > end:
                raise AssertionError(f"{marker!r} did not appear; seen: {self.buffer[-500:]!r}")
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                try:
                    self.buffer += os.read(self.fd, 4096).decode("utf-8", "replace")
                except OSError:
                    break
        upto = self.buffer.index(marker) + len(marker)
        seen, self.buffer = self.buffer[:upto], self.buffer[upto:]
        return seen

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())


def _chat(cfg: Path, home: Path) -> tuple[int, _Terminal]:
    """``nxs-lab chat`` on a terminal of its own (a pty): the child's pid and the terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command, as a user starts it
        os.chdir(home)
        os.execvpe(NXS[0], [*NXS, "--config", str(cfg), "chat", "--max-tokens", "12"], _env(home))
    return pid, _Terminal(fd)


def _ended(pid: int, term: _Terminal) -> int:
    _, status = os.waitpid(pid, 0)
    os.close(term.fd)
    return os.waitstatus_to_exitcode(status)


def test_chat_ctrl_c_stops_an_answer_not_the_program(home: Path) -> None:
    """A stream that never ends is stopped by Ctrl-C; the chat asks for the next line; Ctrl-D leaves with 0."""
    with FaultServer(Fault.ENDLESS_STREAM, chunk_interval=0.05) as endless:
        pid, term = _chat(_config(home / "c.toml", ("endless", endless.base_url, 1)), home)
        term.expect(">>> ")
        term.send("hello\r")
        term.expect("more more more")  # the answer is streaming into the terminal
        term.send("\x03")  # Ctrl-C
        term.expect("[stopped]")
        term.expect(">>> ")
        term.send("\x04")  # Ctrl-D
        assert _ended(pid, term) == 0


def test_chat_answers_and_takes_its_commands(local_server: nx.LocalServer, home: Path) -> None:
    pid, term = _chat(_config(home / "c.toml", ("embedded", local_server.base_url, 1)), home)
    term.expect(">>> ")
    term.send("Name a fruit.\r")
    said = term.expect("[embedded")
    term.expect(">>> ")
    term.send("/model smollm2-135m-instruct\r")
    assert "[model: smollm2-135m-instruct]" in term.expect("instruct]")
    term.expect(">>> ")
    term.send("And a vegetable?\r")
    term.expect("[embedded")  # the second turn, with the first in its history
    term.expect(">>> ")
    term.send("/clear\r")
    term.expect("forgotten")
    term.expect(">>> ")
    term.send("/exit\r")
    assert _ended(pid, term) == 0
    assert "Name a fruit." in said
