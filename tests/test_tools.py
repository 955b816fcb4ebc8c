"""Toolbox schemas, validated calls, the loop against the real embedded server, MCP, transcripts."""

from __future__ import annotations

import asyncio
import enum
import json
import sys
import threading
import time
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer
from nxs_lab.tools import RunOutcome, Toolbox, Transcript, run_tools

NOTES = {"rivers": "The Nile is the longest river.", "cats": "Cats sleep 16 hours a day."}


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


class Place(BaseModel):
    city: str
    country: str = "FR"


def make_toolbox() -> tuple[Toolbox, list[str]]:
    tb = Toolbox(default_timeout=2)
    seen: list[str] = []

    @tb.tool
    def search_memory(query: str, limit: int = 3) -> str:
        """Search the user's notes.

        Args:
            query: what to look for.
            limit: how many notes at most.
        """
        seen.append(query)
        return "; ".join(v for k, v in NOTES.items() if k in query.lower()) or "no notes found"

    return tb, seen


def test_schemas_are_derived_from_signatures() -> None:
    tb = Toolbox()

    @tb.tool
    def weather(
        place: Place,
        unit: Unit = Unit.C,
        days: int = 1,
        detailed: bool = False,
        tags: list[str] | None = None,
        mode: Literal["fast", "slow"] = "fast",
        ratio: float = 0.5,
    ) -> dict:
        """Forecast for a place.

        Args:
            place: where.
            unit: temperature unit.
        """
        return {"city": place.city, "unit": unit.value}

    fn = tb.schemas()[0]["function"]
    params = fn["parameters"]
    assert fn["name"] == "weather" and fn["description"] == "Forecast for a place."
    assert params["required"] == ["place"] and params["additionalProperties"] is False
    props = params["properties"]
    assert props["days"]["type"] == "integer" and props["ratio"]["type"] == "number"
    assert props["detailed"]["type"] == "boolean" and props["mode"]["enum"] == ["fast", "slow"]
    assert props["place"]["description"] == "where." and props["unit"]["description"] == "temperature unit."
    assert "$defs" in params and {"Place", "Unit"} <= set(params["$defs"])
    out = tb.call("weather", '{"place": {"city": "Lyon"}, "unit": "fahrenheit"}')
    assert out.ok and out.result == {"city": "Lyon", "unit": "fahrenheit"}


def test_bad_tool_definitions_are_refused() -> None:
    tb = Toolbox()

    def untyped(x):
        return x

    with pytest.raises(TypeError, match="needs a type hint"):
        tb.tool(untyped)
    with pytest.raises(TypeError, match=r"\*args"):

        @tb.tool
        def f(*items: str) -> str:
            return ""

    with pytest.raises(ValueError, match="tool name"):
        tb.tool(name="has space")(lambda: "")

    @tb.tool
    def g() -> str:
        """G."""
        return "g"

    with pytest.raises(ValueError, match="already registered"):
        tb.tool(name="g")(lambda: "")


@pytest.mark.parametrize(
    ("name", "arguments", "error"),
    [
        ("nope", "{}", "unknown-tool"),
        ("search_memory", '{"query": ', "malformed-json"),
        ("search_memory", '{"limit": 2}', "invalid-arguments"),
        ("search_memory", '{"query": "x", "limit": "many"}', "invalid-arguments"),
        ("search_memory", '{"query": "x", "colour": "red"}', "invalid-arguments"),
        ("search_memory", '["query"]', "invalid-arguments"),
    ],
)
def test_bad_calls_become_messages_for_the_model(name, arguments, error) -> None:
    tb, seen = make_toolbox()
    out = tb.call(name, arguments)
    assert not out.ok and out.error == error and out.content.startswith(f"error ({error})")
    assert seen == []  # nothing ran


def test_raising_slow_and_async_tools() -> None:
    tb = Toolbox(default_timeout=0.3)

    @tb.tool
    def broken(x: int) -> int:
        """Raises."""
        raise KeyError(x)

    @tb.tool(timeout=0.2)
    def slow() -> str:
        """Sleeps."""
        time.sleep(1)
        return "late"

    @tb.tool
    async def fetch(n: int) -> list[int]:
        """Async."""
        await asyncio.sleep(0)
        return list(range(n))

    assert tb.call("broken", '{"x": 1}').error == "raised" and "KeyError" in tb.call("broken", '{"x": 1}').content
    assert tb.call("slow", "").error == "timeout"
    out = tb.call("fetch", '{"n": 3}')
    assert out.ok and out.content == "[0, 1, 2]"
    tb.close()


@pytest.mark.server
@pytest.mark.timeout(180)
def test_loop_against_the_embedded_server_with_a_forced_call(provider: nx.Provider) -> None:
    tb, seen = make_toolbox()
    steps: list = []
    run = run_tools(
        provider,
        [{"role": "user", "content": "What do my notes say about rivers?"}],
        tb,
        max_rounds=3,
        tool_choice={"type": "function", "function": {"name": "search_memory"}},
        max_tokens=48,
        on_step=steps.append,
    )
    assert run.outcome in (RunOutcome.ANSWERED, RunOutcome.MAX_ROUNDS) and 1 <= run.rounds <= 3
    assert steps == run.trace and run.trace[0].kind == "model"
    tool_steps = run.tool_steps
    assert tool_steps and tool_steps[0].name == "search_memory"
    assert len(seen) == sum(1 for s in tool_steps if s.error is None)  # each valid call really ran
    tool_msgs = [m for m in run.messages if m["role"] == "tool"]
    assert len(tool_msgs) == len(tool_steps)
    calls = [c["id"] for m in run.messages if m.get("tool_calls") for c in m["tool_calls"]]
    assert [m["tool_call_id"] for m in tool_msgs] == calls  # every result answers its call
    assert len(run.to_dataframe()) == len(run.trace) and "<table" in run._repr_html_()


def _stub_with_calls(calls: list[tuple[str, str]]) -> dict:
    return {
        "/v1/chat/completions": {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "stub-model",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                            for i, (n, a) in enumerate(calls)
                        ],
                    },
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
    }


def test_every_bad_input_path_in_the_loop_ends_within_max_rounds() -> None:
    tb, seen = make_toolbox()
    bad = [
        ("rm_rf", "{}"),
        ("search_memory", '{"query": "riv'),
        ("search_memory", '{"limit": "x"}'),
        ("search_memory", '{"query": "rivers"}'),
    ]
    with FaultServer(Fault.OK, routes=_stub_with_calls(bad)) as stub:  # a model that never stops calling
        p = nx.Provider(name="stub", base_url=stub.base_url, model="stub-model")
        run = run_tools(p, [{"role": "user", "content": "go"}], tb, max_rounds=2)
    assert run.outcome is RunOutcome.MAX_ROUNDS and run.rounds == 2
    errors = [s.error for s in run.tool_steps]
    assert errors == ["unknown-tool", "malformed-json", "invalid-arguments", None] * 2
    assert seen == ["rivers", "rivers"]  # only the valid call ran, once per round


def test_final_answer_asks_once_more_without_tools_when_the_rounds_run_out() -> None:
    tb, _seen = make_toolbox()
    calls = [("search_memory", '{"query": "rivers"}')]
    with FaultServer(Fault.OK, routes=_stub_with_calls(calls)) as stub:  # a model that never stops calling
        p = nx.Provider(name="stub", base_url=stub.base_url, model="stub-model")
        run = run_tools(p, [{"role": "user", "content": "go"}], tb, max_rounds=1, final_answer=True)
        asked = stub.last_body
    assert asked["tool_choice"] == "none" and asked["messages"][-1]["role"] == "tool"  # from the tool results
    assert [s.kind for s in run.trace] == ["model", "tool", "answer"] and run.rounds == 1
    assert run.outcome is RunOutcome.MAX_ROUNDS  # this stub calls even when told not to: said, not hidden


def test_parallel_calls_in_one_turn_run_concurrently() -> None:
    tb = Toolbox()
    threads: set[int] = set()
    barrier = threading.Barrier(3, timeout=5)

    @tb.tool
    def wait_for_peers(n: int) -> int:
        """Meets the other calls of the same turn: passes only if all three run at once."""
        threads.add(threading.get_ident())
        barrier.wait()
        return n

    calls = [("wait_for_peers", json.dumps({"n": i})) for i in range(3)]
    with FaultServer(Fault.OK, routes=_stub_with_calls(calls)) as stub:
        p = nx.Provider(name="stub", base_url=stub.base_url, model="stub-model")
        run = run_tools(p, [{"role": "user", "content": "go"}], tb, max_rounds=1)
    assert [s.error for s in run.tool_steps] == [None] * 3 and len(threads) == 3


def test_mcp_tools_behind_an_allowlist() -> None:
    server = str(Path(__file__).with_name("mcp_server.py"))
    with Toolbox.from_mcp(sys.executable, [server], allow=["add"]) as tb:
        assert tb.names == ["add"] and tb["add"].source.startswith("mcp:")
        assert tb.schemas()[0]["function"]["parameters"]["required"] == ["a", "b"]
        out = tb.call("add", '{"a": 2, "b": 3}')
        assert out.ok and out.result == 5
        assert tb.call("add", '{"a": "two"}').error == "invalid-arguments"  # checked before the server sees it
        assert tb.call("delete_everything", '{"path": "/"}').error == "unknown-tool"  # never exposed
    with pytest.raises(ValueError, match="has no tool"):
        Toolbox.from_mcp(sys.executable, [server], allow=["add", "missing"])


def test_transcript_survives_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    t = Transcript(path)
    t.append({"role": "user", "content": "hello"})
    t.append({"role": "assistant", "content": "hi — 日本語 too"})
    t.close()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"role": "user", "content": "cut mid-wri')  # the kernel died here
    resumed = Transcript.load(path)
    assert [m["content"] for m in resumed.messages] == ["hello", "hi — 日本語 too"]
    path.write_text('{"role": "user", "content": "a"}\nnot json\n{"role": "user", "content": "b"}\n')
    with pytest.raises(ValueError, match=":2: not a JSON line"):
        Transcript.load(path)
