"""A request log that keeps conversations when asked ([log] content = true): the question and the answer kept,
keys and secrets redacted; `nxs-lab logs --search` and nx.logs.search find a call by a word in its question, with
its answer, from the index kept beside the log (FTS5, or a plain scan); a log written before the index existed is
imported as is; two processes appending at once lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.logsearch import LogIndex
from nxs_lab.resilience.requestlog import redact_secrets
from nxs_lab.testing import FaultServer

from .test_cli_shell import _env

pytestmark = pytest.mark.timeout(120)


def _chat(log: nx.RequestLog, url: str, question: str) -> nx.ChatResult:
    with nx.FallbackChain([nx.Provider(name="box", base_url=url, model="stub-model")], log=log) as chain:
        return chain.chat([{"role": "user", "content": question}])


def test_a_conversation_is_found_by_a_word_in_its_question_with_its_answer(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    log = nx.RequestLog(path, include_content=True)
    with FaultServer() as srv:
        rivers = _chat(log, srv.base_url, "Tell me about rivers and deltas")
        _chat(log, srv.base_url, "What is my key? It is sk-abcdefghijklmnop0123 and password=hunter2")
        _chat(log, srv.base_url, "Something about mountains")
    found = nx.logs.search("rivers", path=path)
    assert [r["question"] for r in found.rows] == ["Tell me about rivers and deltas"]
    assert found.rows[0]["answer"] == rivers.text  # the answer beside it
    assert found.rows[0]["provider"] == "box" and "rivers" in found._repr_html_()
    text = path.read_text()
    assert "sk-abcdefghijklmnop0123" not in text and "hunter2" not in text and "[redacted]" in text
    assert [r["question"] for r in nx.logs.search("mountains", path=path).rows] == ["Something about mountains"]
    plain = LogIndex(path, fts=False)  # a sqlite without FTS5: the same answer from a plain scan
    plain.path = tmp_path / "plain.sqlite"
    assert [r["question"] for r in plain.search("rivers deltas").rows] == ["Tell me about rivers and deltas"]


def test_the_command_line_searches_and_an_old_log_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    lines = [{"time": f"2026-11-2{i}T10:00:00Z", "provider": "lmstudio", "model": "qwen", "outcome": "ok",
              "content": {"question": f"question {i} about {w}", "answer": f"answer {i}"}}
             for i, w in enumerate(["rivers", "lakes", "rivers"])]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"time": "torn')  # and a torn last line
    r = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "logs", "--file", str(path), "--search", "rivers",
                        "--json"], capture_output=True, text=True, env=_env(tmp_path), timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    assert [f["answer"] for f in found] == ["answer 2", "answer 0"]  # newest first, each with its answer
    table = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "logs", "--file", str(path), "--search", "lakes"],
                           capture_output=True, text=True, env=_env(tmp_path), timeout=60)  # fmt: skip
    assert table.returncode == 0 and "question 1 about lakes" in table.stdout


_WRITER = """
import sys
import nxs_lab as nx
log = nx.RequestLog(sys.argv[1], include_content=True)
for i in range(300):
    log.record({"provider": sys.argv[2], "outcome": "ok"}, content={"question": f"{sys.argv[2]} asks {i}",
                                                                    "answer": "fine"})
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name]) for name in ("alpha", "beta")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert len(nx.logs.search("alpha", path=path, limit=1000).rows) == 300
    assert len(nx.logs.search("beta", path=path, limit=1000).rows) == 300
    assert LogIndex(path).refresh() == 0  # nothing new: each line indexed once


def test_secrets_are_redacted() -> None:
    said = redact_secrets(
        "use sk-proj-ABCDEFGHIJKLMNOP1234 with Authorization: Bearer abcdefghijkl.mn and api_key=xyz123"
    )
    assert "ABCDEFGHIJKLMNOP" not in said and "abcdefghijkl" not in said and "xyz123" not in said
    assert said.count("[redacted]") == 3


def test_ask_keeps_the_conversation_when_the_settings_say_so_and_logs_finds_it(tmp_path: Path) -> None:
    with FaultServer() as srv:
        config = tmp_path / "c.toml"
        config.write_text(f'[log]\ncontent = true\n\n[[providers]]\nname = "box"\nbase_url = "{srv.base_url}"\n'
                          'model = "stub-model"\n')  # fmt: skip
        env = _env(tmp_path)
        asked = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "--config", str(config), "ask",
                                "Why do rivers meander?"], capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
        found = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "--config", str(config), "logs", "--search",
                                "meander", "--json"], capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    (row,) = json.loads(found.stdout)
    assert row["question"] == "Why do rivers meander?" and row["answer"].strip() == asked.stdout.strip()
