"""Tools that do what the model is told (issue 12, items 9 and 10): the clock starts when a tool starts, a hung
tool never blocks another call or the end of the interpreter, MCP calls are cancelled through the session, a turn
has a bound, and bad model output or a broken MCP schema never raises."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer
from nxs_lab.tools import Toolbox, run_tools
from nxs_lab.tools.mcp import MCPBridge

from .test_tools import _stub_with_calls

pytestmark = pytest.mark.timeout(120)
HOSTILE_MCP = str(Path(__file__).with_name("mcp_hostile_server.py"))


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "5", True])
def test_nonsense_timeouts_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        Toolbox(default_timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive number of seconds"):
        Toolbox().tool(timeout=bad)  # type: ignore[arg-type]


def test_hung_tools_never_block_the_others() -> None:
    """Ten hung calls, then a healthy one: its clock starts when it starts, so it answers."""
    tb = Toolbox(default_timeout=0.5)
    release = threading.Event()

    @tb.tool
    def stuck() -> str:
        """Waits for the test to let go."""
        release.wait(30)
        return "late"

    @tb.tool
    def quick(n: int) -> int:
        """Answers at once."""
        return n

    try:
        hung = [tb.call("stuck", "{}") for _ in range(10)]
        assert {o.error for o in hung} == {"timeout"}
        assert all("may still complete" in o.content for o in hung)  # the model is told the truth
        assert tb.call("quick", '{"n": 7}').result == 7
    finally:
        release.set()


def test_a_timed_out_async_tool_is_cancelled() -> None:
    tb = Toolbox(default_timeout=0.3)
    finished: list[bool] = []

    @tb.tool
    async def send_email(to: str) -> str:
        """Pretends to send mail slowly."""
        import asyncio

        await asyncio.sleep(2)
        finished.append(True)
        return "sent"

    out = tb.call("send_email", '{"to": "a@b.c"}')
    assert out.error == "timeout" and "cancelled" in out.content
    time.sleep(2.5)
    assert finished == []  # it did not go on to send


def test_a_hung_tool_does_not_keep_the_interpreter_alive(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import time
        from nxs_lab.tools import Toolbox
        tb = Toolbox(default_timeout=0.2)

        @tb.tool
        def forever() -> str:
            '''Never returns.'''
            time.sleep(3600)
            return ""

        print(tb.call("forever", "{}").error)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    assert run.stdout.strip() == "timeout"


def test_a_turn_has_a_bound() -> None:
    tb = Toolbox()
    ran: list[int] = []
    peak = [0, 0]
    lock = threading.Lock()

    @tb.tool
    def note(n: int) -> int:
        """Records that it ran."""
        with lock:
            peak[0] += 1
            peak[1] = max(peak[1], peak[0])
        time.sleep(0.01)
        with lock:
            ran.append(n)
            peak[0] -= 1
        return n

    calls = [("note", json.dumps({"n": i})) for i in range(300)]
    with FaultServer(Fault.OK, routes=_stub_with_calls(calls)) as stub:
        p = nx.Provider(name="stub", base_url=stub.base_url, model="stub-model")
        run = run_tools(p, [{"role": "user", "content": "go"}], tb, max_rounds=1, max_calls_per_turn=20)
    errors = [s.error for s in run.tool_steps]
    assert errors[:20] == [None] * 20 and set(errors[20:]) == {"too-many-calls"} and len(errors) == 300
    assert sorted(ran) == list(range(20)) and peak[1] <= 8
    assert sum(1 for m in run.messages if m.get("role") == "tool") == 300  # every call id gets its answer


def _nested(depth: int) -> str:
    return '{"q": ' + "[" * depth + "]" * depth + "}"


def test_absurdly_nested_arguments_are_a_tool_message() -> None:
    tb = Toolbox()

    @tb.tool
    def search(q: list) -> str:
        """Searches."""
        return "ok"

    out = tb.call("search", _nested(100_000))
    assert not out.ok and out.error in ("malformed-json", "invalid-arguments")


@pytest.mark.parametrize(("given_", "ok"), [(1, True), ("1", False), (True, False), (1.5, False), (None, False)])
def test_integers_are_strict(given_: object, ok: bool) -> None:
    tb = Toolbox()

    @tb.tool
    def take(n: int) -> int:
        """Takes an integer."""
        return n

    out = tb.call("take", json.dumps({"n": given_}))
    assert out.ok is ok
    if ok:
        assert out.result == 1 and type(out.result) is int


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
            max_leaves=20,
        ),
    )
)
def test_call_never_raises_for_any_model_output(arguments: object) -> None:
    tb = Toolbox()

    @tb.tool
    def take(n: int, label: str = "x") -> str:
        """Takes an integer and a label."""
        return f"{label}{n}"

    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    out = tb.call("take", raw)
    assert out.ok or (out.error is not None and out.content.startswith("error ("))


@pytest.fixture
def mark(tmp_path: Path) -> Path:
    return tmp_path / "mcp-cancelled"


def test_a_hung_mcp_call_is_cancelled_through_the_session_and_the_toolbox_stays_usable(mark: Path) -> None:
    pytest.importorskip("mcp")
    tb = Toolbox(default_timeout=0.5)
    tb.attach_mcp(MCPBridge(sys.executable, [HOSTILE_MCP], env={"NXS_MCP_MARK": str(mark)}), allow=["hang"])

    @tb.tool
    def quick() -> str:
        """Answers at once."""
        return "here"

    try:
        outs = [tb.call("hang", '{"seconds": 1}') for _ in range(8)]
        assert {o.error for o in outs} == {"timeout"} and all("cancelled" in o.content for o in outs)
        assert tb.call("quick", "{}").result == "here"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (not mark.exists() or mark.read_text().count("cancelled") < 8):
            time.sleep(0.1)
        assert mark.read_text().count("cancelled") == 8  # the server itself saw every cancellation
    finally:
        tb.close()


def test_a_broken_mcp_schema_is_refused_at_attach(mark: Path) -> None:
    pytest.importorskip("mcp")
    tb = Toolbox()
    with pytest.raises(ValueError, match="input schema is broken for broken"):
        tb.attach_mcp(MCPBridge(sys.executable, [HOSTILE_MCP], env={"NXS_MCP_MARK": str(mark)}), allow=["broken"])
    assert "broken" not in tb


def _raw_tool(schema: dict) -> nx.Tool:
    return nx.Tool("lookup", "Looks up a word.", lambda **kw: "ok", None, schema)


def test_a_schema_never_reaches_the_network() -> None:
    """A remote $ref (to a server that hangs) is refused when the tool is added, and never fetched; a local one,
    nested, checks the arguments at once."""
    with FaultServer(Fault.HANG) as hung:
        tb = Toolbox()
        remote = {"type": "object", "properties": {"word": {"$ref": hung.base_url + "/schema.json"}}}
        with pytest.raises(ValueError, match=r"refers outside itself \(\$ref 'http://127\.0\.0\.1"):
            tb.add(_raw_tool(remote))
        assert "lookup" not in tb and hung.requests == 0
    local = {
        "type": "object",
        "properties": {"word": {"$ref": "#/$defs/word"}},
        "required": ["word"],
        "$defs": {"word": {"$ref": "#/$defs/text"}, "text": {"type": "string", "maxLength": 5}},
    }
    tb = Toolbox()
    tb.add(_raw_tool(local))
    good = tb.call("lookup", json.dumps({"word": "river"}))
    bad = tb.call("lookup", json.dumps({"word": "a long word"}))
    assert good.ok and not bad.ok and "word" in bad.content and "too long" in bad.content
    dangling = dict(local, **{"$defs": {"word": {"$ref": "#/$defs/missing"}}})
    with pytest.raises(ValueError, match="cannot be used"):
        Toolbox().add(_raw_tool(dangling))


def test_an_mcp_schema_that_refers_to_a_url_is_refused_at_attach(mark: Path) -> None:
    pytest.importorskip("mcp")
    with FaultServer(Fault.HANG) as hung:
        env = {"NXS_MCP_MARK": str(mark), "NXS_MCP_REF_URL": hung.base_url + "/schema.json"}
        tb = Toolbox()
        with pytest.raises(ValueError, match="fetches: it refers outside itself"):
            tb.attach_mcp(MCPBridge(sys.executable, [HOSTILE_MCP], env=env), allow=["fetches"])
        assert "fetches" not in tb and hung.requests == 0


def test_an_mcp_server_that_exits_at_start_is_a_tool_server_error() -> None:
    with pytest.raises(nx.ToolServerError, match="did not start"):
        Toolbox.from_mcp(sys.executable, ["-c", "raise SystemExit(3)"], allow=["anything"])
