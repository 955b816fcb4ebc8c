"""evaluate(): the same tasks through real endpoints (the embedded server, a dead one, a stub with a tool call),
every scorer on passing and failing answers, and the task-file loader on good and bad files."""

from __future__ import annotations

import json
import math

import pytest

import nxs_lab as nx
from nxs_lab.evaluation import Task, load_history, load_tasks, shipped_tasks
from nxs_lab.evaluation.scorers import from_check
from nxs_lab.results import ChatResult, ToolCall
from nxs_lab.testing import Fault, FaultServer

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
    assert live.score.between(0, 1).all() and (live.ttft_s <= live.latency_s).all()
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
        assert ok.requests == 5
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
