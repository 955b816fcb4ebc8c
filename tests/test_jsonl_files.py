"""Transcripts and request logs never lose or corrupt a line (issue 12, item 8): a torn tail after a crash, any
text (line separators, lone surrogates), a short write on a full disk, a log that cannot be written."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nxs_lab as nx
from nxs_lab._jsonl import JsonlAppender, read_jsonl
from nxs_lab.testing import Fault, FaultServer
from nxs_lab.tools.transcript import Transcript

pytestmark = pytest.mark.timeout(120)


def test_a_torn_tail_is_set_aside_and_the_next_line_starts_clean(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    t = Transcript(path)
    t.append({"role": "user", "content": "hello"})
    t.close()
    with open(path, "ab") as fh:
        fh.write('{"role": "assistant", "content": "cut mid-wri日'.encode()[:-1])  # died inside a character too
    resumed = Transcript.load(path)  # reading skips the fragment
    assert [m["content"] for m in resumed.messages] == ["hello"]
    resumed.append({"role": "user", "content": "again"})  # opening set the fragment aside
    resumed.close()
    again = Transcript.load(path)
    assert [m["content"] for m in again.messages] == ["hello", "again"]
    assert b"cut mid-wri" in (tmp_path / "chat.jsonl.torn").read_bytes()  # kept, not thrown away


def test_a_whole_last_line_without_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    out = JsonlAppender(path)
    out.append({"a": 3})
    out.close()
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert not (tmp_path / "log.jsonl.torn").exists()


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\ud800", "\udfff", "\r", "\x00"])
def test_any_character_round_trips_and_never_breaks_a_line(tmp_path: Path, char: str) -> None:
    path = tmp_path / "t.jsonl"
    out = JsonlAppender(path)
    out.append({"content": f"before{char}after"})
    out.append({"content": "next"})
    out.close()
    raw = path.read_bytes()
    assert raw.count(b"\n") == 2 and raw.decode("utf-8").splitlines() == raw.decode("utf-8").split("\n")[:-1]
    assert read_jsonl(path) == [{"content": f"before{char}after"}, {"content": "next"}]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet=st.characters(codec=None, exclude_categories=())), min_size=1, max_size=5))
def test_jsonl_round_trips_any_text(tmp_path: Path, texts: list[str]) -> None:
    path = tmp_path / "any.jsonl"
    path.unlink(missing_ok=True)
    out = JsonlAppender(path)
    for text in texts:
        out.append({"role": "user", "content": text})
    out.close()
    assert [r["content"] for r in read_jsonl(path)] == texts


def test_a_short_write_raises_and_takes_the_partial_line_back(tmp_path: Path) -> None:
    """A real short write: the file-size limit (RLIMIT_FSIZE) stops a write partway, like a full disk."""
    path = tmp_path / "full.jsonl"
    script = textwrap.dedent(
        f"""
        import resource, signal
        from nxs_lab._jsonl import JsonlAppender
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        out = JsonlAppender({str(path)!r})
        n = 0
        try:
            while True:
                out.append({{"n": n, "pad": "x" * 70}})
                n += 1
        except OSError as exc:
            print(n, type(exc).__name__)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    written, error = run.stdout.split()
    assert error == "OSError" and int(written) > 0
    assert path.read_bytes().endswith(b"\n")  # no partial line left behind
    assert [r["n"] for r in read_jsonl(path)] == list(range(int(written)))


def test_a_lone_surrogate_from_a_server_is_logged_and_the_call_succeeds(tmp_path: Path) -> None:
    log = nx.RequestLog(tmp_path / "requests.jsonl", include_content=True)
    with FaultServer(Fault.LONE_SURROGATE) as srv:
        chain = nx.FallbackChain([nx.Provider(name="odd", base_url=srv.base_url, model="m")], log=log)
        result = chain.chat([{"role": "user", "content": "hi"}])
    assert "\ud800" in result.text
    (line,) = log.read()
    assert line["provider"] == "odd" and line["content"] == {"question": "hi", "answer": result.text}
    assert log.dropped == 0


def test_a_log_that_cannot_be_written_warns_and_never_fails_the_call(tmp_path: Path) -> None:
    log = nx.RequestLog(tmp_path / "requests.jsonl")
    log.close()  # as good as a disk that refuses every write
    with FaultServer(Fault.OK) as srv:
        chain = nx.FallbackChain([nx.Provider(name="ok", base_url=srv.base_url, model="m")], log=log)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = chain.chat([{"role": "user", "content": "hi"}])
    assert result.provider == "ok" and log.dropped == 1
    assert any(issubclass(w.category, RuntimeWarning) and "not written" in str(w.message) for w in caught)
