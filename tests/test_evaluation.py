"""evaluate(): the same tasks through real endpoints (the embedded server, a dead one, a stub with a tool call),
every scorer on passing and failing answers, and the task-file loader on good and bad files."""

from __future__ import annotations

import json
import math

import pytest

import nxs_lab as nx
from nxs_lab.evaluation import Judge, JudgeError, Task, load_history, load_tasks, shipped_tasks
from nxs_lab.evaluation.scorers import from_check
from nxs_lab.results import ChatResult, ToolCall
from nxs_lab.testing import Fault, FaultServer

from .standins import LMSTUDIO, LMSTUDIO_NATIVE_CHAT

pytestmark = pytest.mark.timeout(300)


def _answer(text: str = "", calls: tuple[ToolCall, ...] = ()) -> ChatResult:
    return ChatResult(text=text, provider="p", model="m", tool_calls=calls)


# ------------------------------------------------------------------ scorers, passing and failing

SCORER_CASES = [
    ({"type": "exact", "value": "Paris"}, "Paris", "paris"),
    ({"type": "normalized", "value": "The Nile"}, "nile.", "the Amazon"),
    ({"type": "contains", "values": ["Danube", "Black Sea"]}, "The Danube ends in the Black Sea.", "The Danube."),
    ({"type": "regex", "pattern": "^\\W*HELLO\\W*$"}, "HELLO!", "Hello there"),
    ({"type": "numeric", "value": 42, "tolerance": 0.01}, "It is 42.", "It is 41."),
    ({"type": "numeric", "value": 1234}, "1,234", "no number"),
    ({"type": "json", "schema": {"type": "object", "required": ["age"], "properties": {"age": {"const": 34}}}},
     'Here:\n```json\n{"age": 34}\n```', '{"age": "34"}'),
]  # fmt: skip


@pytest.mark.parametrize(("check", "good", "bad"), SCORER_CASES, ids=[c[0]["type"] for c in SCORER_CASES])
def test_each_scorer_passes_a_right_answer_and_fails_a_wrong_one(check: dict, good: str, bad: str) -> None:
    score = from_check(check)
    assert score(_answer(good), None) == 1.0 and score(_answer(bad), None) == 0.0


def test_the_tool_call_scorer_checks_the_name_and_the_arguments() -> None:
    score = from_check({"type": "tool_call", "name": "get_weather", "arguments": {"city": "Oslo"}})
    assert score(_answer(calls=(ToolCall("1", "get_weather", '{"city": "oslo"}'),)), None) == 1.0
    assert score(_answer(calls=(ToolCall("1", "get_weather", '{"city": "Bergen"}'),)), None) == 0.0
    assert score(_answer(calls=(ToolCall("1", "search_memory", '{"query": "Oslo"}'),)), None) == 0.0
    assert score(_answer(calls=(ToolCall("1", "get_weather", '{"city": '),)), None) == 0.0  # malformed
    assert score(_answer("Oslo is sunny."), None) == 0.0  # no call at all
    partial = from_check({"type": "contains", "values": ["a", "b", "zzz"], "every": False})
    assert math.isclose(partial(_answer("a b"), None), 2 / 3)


@pytest.mark.parametrize(
    ("check", "said"),
    [
        ({"type": "fuzzy"}, "not one of"),
        ({"type": "numeric"}, "missing a required argument: 'value'"),
        ({"type": "regex", "pattern": "("}, "missing )"),
        ({"type": "exact", "value": "x", "extra": 1}, "unexpected keyword argument 'extra'"),
    ],
)
def test_a_bad_check_is_refused_when_made(check: dict, said: str) -> None:
    with pytest.raises(ValueError, match=said.replace("(", r"\(").replace(")", r"\)")):
        from_check(check)


# ------------------------------------------------------------------ task files


def test_the_shipped_tasks_load_and_cover_every_category() -> None:
    tasks = shipped_tasks()
    assert len(tasks) >= 24 and len({t.id for t in tasks}) == len(tasks)
    assert {t.category for t in tasks} == {"recall", "arithmetic", "extraction", "instructions", "tools", "summary"}
    assert all(t.tools for t in tasks if t.category == "tools")
    assert [t.category for t in shipped_tasks(["tools"])] == ["tools"] * len(shipped_tasks(["tools"]))


def test_a_task_file_with_bad_lines_names_every_one(tmp_path) -> None:
    path = tmp_path / "mine.jsonl"
    lines = [
        json.dumps({"id": "ok", "input": "2+2?", "check": {"type": "numeric", "value": 4}}),
        "# a comment, then a blank line",
        "",
        '{"id": "broken", "input": ',
        json.dumps({"id": "no-check", "input": "hi"}),
        json.dumps({"id": "ok", "input": "again", "target": "x"}),
        json.dumps({"id": "tool", "input": "x", "target": "y", "tools": ["rm_rf"]}),
        json.dumps({"id": "typo", "inptu": "x", "target": "y"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(nx.ConfigError) as info:
        load_tasks(path)
    said = str(info.value)
    assert str(path) in said
    for line, what in [(4, "Expecting value"), (5, "give 'target'"), (6, "used twice"), (7, "rm_rf"), (8, "inptu")]:
        assert f"line {line}: " in said and what in said, (line, said)
    assert "line 1:" not in said  # the good line is not blamed


def test_a_good_task_file_loads_with_messages_and_tool_schemas(tmp_path) -> None:
    path = tmp_path / "mine.jsonl"
    schema = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    rows = [
        {"id": "a", "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
         "target": "hello"},
        {"id": "b", "input": "Call f.", "tools": [schema, "search_memory"], "check": {"type": "tool_call", "name": "f"}},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows))
    a, b = load_tasks(path)
    assert [m["role"] for m in a.messages] == ["system", "user"] and a.check == {"type": "normalized", "value": "hello"}
    assert [t["function"]["name"] for t in b.tools] == ["f", "search_memory"]


# ------------------------------------------------------------------ evaluate, against real servers


def test_evaluate_against_the_embedded_server_and_a_dead_one(local_server: nx.LocalServer, tmp_path) -> None:
    tasks = shipped_tasks(["recall"])[:3] + shipped_tasks(["tools"])[:2]
    with FaultServer(Fault.REFUSE) as dead:
        ev = nx.evaluate(
            {"embedded": local_server.provider(), "dead": nx.Provider(name="dead", base_url=dead.base_url, model="m")},
            tasks,
            repetitions=2,
            max_tokens=24,
            prices={"embedded": (1.0, 2.0)},
            progress=False,
        )
    df = ev.to_dataframe()
    assert len(df) == 2 * 2 * len(tasks) and ev.skipped == 0
    live, down = df[df.endpoint == "embedded"], df[df.endpoint == "dead"]
    assert live.ok.all() and not down.ok.any()  # the dead endpoint's errors are counted; the run finished
    assert down.error.str.startswith("ConnectionFailed").all() and (down.score == 0).all()
    timed = live[live.ttft_s.notna()]  # streamed answers; a tool task's is unstreamed, with no first token timed
    assert live.score.between(0, 1).all() and len(timed) and (timed.ttft_s <= timed.latency_s).all()
    streamed = live[live.category == "recall"]
    assert (streamed.tok_per_s > 0).all() and set(streamed.tok_per_s_source) == {"measured (chunks)"}
    summary = ev.summary().set_index("endpoint")
    assert summary.loc["dead", "errors"] == summary.loc["dead", "calls"] == 2 * len(tasks)
    assert summary.loc["embedded", "errors"] == 0 and summary.loc["embedded", "cost"] > 0  # tool calls report usage
    mean, lo, hi = ev.figures("embedded")["latency_s"]
    assert lo <= mean <= hi
    wins = ev.win_rates()
    assert math.isclose(wins.loc["embedded", "dead"] + wins.loc["dead", "embedded"], 1.0)
    assert "embedded is faster" not in ev.verdict() and "Not enough answers to compare latency" in ev.verdict()
    assert "<table" in ev._repr_html_() and len(ev.plot().axes) == 2
    history = tmp_path / "runs" / "history.jsonl"
    ev.append_history(history)
    ev.append_history(history)
    h = load_history(history)
    assert len(h) == 2 and h["dead.errors"].tolist() == [2 * len(tasks)] * 2


def test_max_calls_caps_the_calls_and_says_so() -> None:
    with FaultServer(Fault.OK) as ok:
        p = nx.Provider(name="stub", base_url=ok.base_url, model="m")
        ev = nx.evaluate([p], shipped_tasks(["arithmetic"]), repetitions=2, max_calls=5, progress=False)
        assert ok.calls == 5  # chat calls (the server's kind is probed once, with GETs)
    assert len(ev.records) == 5 and ev.skipped == 2 * len(shipped_tasks(["arithmetic"])) - 5
    assert "calls not made" in ev._repr_html_()


def test_a_scorer_that_raises_is_kept_on_its_row() -> None:
    def broken(_result, _task) -> float:
        raise KeyError("oops")

    task = Task("t", "hi", broken)
    with FaultServer(Fault.OK) as ok:
        ev = nx.evaluate({"stub": nx.Provider(name="stub", base_url=ok.base_url, model="m")}, [task], progress=False)
    (row,) = ev.records
    assert row["ok"] and row["score"] is None and row["error"].startswith("scorer failed: KeyError")


# ------------------------------------------------------------------ the judge


def test_the_judge_reads_a_score_and_refuses_a_reply_without_one() -> None:
    judge = Judge(nx.Provider(name="unused", base_url="http://127.0.0.1:9/v1"), scale=5)
    assert judge.parse('{"score": 4, "reason": "right"}') == 0.8
    assert judge.parse('```json\n{"score": 0, "reason": "wrong"}\n```') == 0.0
    assert judge.parse("Score: 5 - all correct") == 1.0
    for bad in ('{"score": 7, "reason": "x"}', '{"score": true}', "I cannot grade this", '{"reason": "no score"}'):
        with pytest.raises(JudgeError, match="no score from 0 to 5"):
            judge.parse(bad)
    with pytest.raises(ValueError, match="scale must be at least 1"):
        Judge(judge.target, scale=0)


def _judged(ev: nx.Evaluation, judge: Judge, answers: int) -> None:
    """Every answer graded in range; the judge's calls counted apart from the endpoint's."""
    df = ev.to_dataframe()
    assert len(df) == answers and df.ok.all() and df.error.isna().all(), df.error.tolist()
    assert df.score.between(0, 1).all()
    usage = judge.usage()
    assert usage["failures"] == 0 and usage["calls"] >= answers and usage["prompt_tokens"] > 0
    assert ev.judge == usage and "judge calls" in ev._repr_html_()


def test_a_judge_grades_through_the_embedded_server(local_server: nx.LocalServer) -> None:
    """llama-cpp-python refuses json_schema: the judge asks once with it, then keeps json_object with the schema."""
    p = local_server.provider()
    judge = Judge(p, price=(1.0, 1.0))
    ev = nx.evaluate({"embedded": p}, shipped_tasks(["recall"])[:3], scorer=judge, max_tokens=24, progress=False)
    _judged(ev, judge, 3)
    assert judge.usage()["calls"] == 3 + 1 and judge.usage()["cost"] > 0  # the one refused format is a call too
    assert [f["type"] for f in judge._formats] == ["json_object"]


def test_a_judge_grades_through_llama_server(llama_server: str, local_server: nx.LocalServer) -> None:
    """llama.cpp's own server takes json_schema as OpenAI does: no call is refused."""
    judge = Judge(nx.Provider(name="llama-server", base_url=llama_server))
    p = local_server.provider()
    ev = nx.evaluate({"embedded": p}, shipped_tasks(["arithmetic"])[:2], scorer=judge, max_tokens=16, progress=False)
    _judged(ev, judge, 2)
    assert judge.usage()["calls"] == 2 and judge._formats[0]["type"] == "json_schema"


def test_a_judge_that_fails_is_kept_on_the_row_not_blamed_on_the_endpoint() -> None:
    with FaultServer(Fault.OK) as ok, FaultServer(Fault.REFUSE) as dead:
        judge = Judge(nx.Provider(name="dead-judge", base_url=dead.base_url, model="m"))
        ev = nx.evaluate(
            {"stub": nx.Provider(name="stub", base_url=ok.base_url, model="m")},
            shipped_tasks(["recall"])[:2],
            scorer=judge,
            progress=False,
        )
    assert all(r["ok"] and r["score"] is None for r in ev.records)  # the endpoint answered; the judge did not
    assert all(r["error"].startswith("scorer failed: ConnectionFailed") for r in ev.records)
    assert judge.usage()["calls"] == judge.usage()["failures"] == 2


def test_lm_studio_speed_comes_from_its_native_stats() -> None:
    """LM Studio (a stand-in answering its documented shapes) reports tokens/s only on /api/v0: evaluate asks there,
    and the speed and time to first token are the server's own."""
    routes = dict(LMSTUDIO, **{"/api/v0/chat/completions": LMSTUDIO_NATIVE_CHAT})
    with FaultServer(Fault.OK, routes=routes) as lm:
        p = nx.Provider(name="lmstudio", base_url=lm.base_url)
        ev = nx.evaluate({"lmstudio": p}, shipped_tasks(["recall"])[:2], max_tokens=16, progress=False)
        body = lm.last_body
    assert body["model"] == "gemma-3-4b-it" and body["max_tokens"] == 16 and body["messages"][0]["role"] == "user"
    df = ev.to_dataframe()
    assert df.ok.all() and (df.tok_per_s_source == "server").all()
    assert df.tok_per_s.tolist() == [pytest.approx(51.437, abs=1e-3)] * 2 and (df.ttft_s == 0.111).all()
    assert (df.completion_tokens == 3).all() and "server" in ev.summary().iloc[0]["tok/s from"]


def test_a_broken_lm_studio_native_reply_is_an_error_on_its_row() -> None:
    routes = dict(LMSTUDIO, **{"/api/v0/chat/completions": {"stats": {"tokens_per_second": 5}}})
    with FaultServer(Fault.OK, routes=routes) as lm:
        ev = nx.evaluate([nx.Provider(name="lm", base_url=lm.base_url)], shipped_tasks(["recall"])[:1], progress=False)
    (row,) = ev.records
    assert not row["ok"] and row["error"].startswith("InvalidResponse") and "not a chat completion" in row["error"]


def test_evaluate_takes_a_task_file_path_a_list_of_dicts_or_one_provider(tmp_path) -> None:
    """What users pass: a path (not its characters), dicts, a lone provider; a line without ``id`` gets its line."""
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        '# two questions\n{"input": "Say stub.", "target": "stub answer"}\n\n{"id": "b", "input": "Hi", "target": "x"}\n'
    )
    with FaultServer(Fault.OK) as ok, nx.Provider(name="stub", base_url=ok.base_url, model="stub-model") as p:
        from_path = nx.evaluate(p, str(tasks), progress=False)
        from_dicts = nx.evaluate([p], [{"input": "Say stub.", "target": "stub answer"}], progress=False)
    assert sorted(r["task"] for r in from_path.records) == ["b", "line 2"]
    assert [(r["task"], r["ok"]) for r in from_dicts.records] == [("task 1", True)]


@pytest.mark.parametrize(
    ("endpoints", "tasks", "error", "said"),
    [
        ("http://127.0.0.1:1234/v1", None, TypeError, "endpoints: give Providers"),
        (["not a provider"], None, TypeError, "is a str, not a Provider"),
        (None, 42, TypeError, "got int 42"),
        (None, {"id": "a"}, TypeError, "got dict"),
        (None, [{"id": "a", "input": "hi"}, 7], nx.ConfigError, "task 2: is int 7"),
        (None, "no/such/tasks.jsonl", nx.ConfigError, "no such task file"),
        (None, [], nx.ConfigError, "the list is empty"),
    ],
)
def test_evaluate_names_what_it_cannot_take(endpoints, tasks, error, said) -> None:
    with FaultServer(Fault.OK) as ok, nx.Provider(name="stub", base_url=ok.base_url, model="stub-model") as p:
        with pytest.raises(error, match=said.replace("(", r"\(")):
            nx.evaluate(p if endpoints is None else endpoints, tasks, progress=False)
        assert ok.requests == 0  # refused before any call
