"""ChatPanel and ToolPanel driven in plain pytest: set values, click, check what they show and the core objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.resilience.targets import CHAIN
from nxs_lab.testing import Fault, FaultServer
from nxs_lab.tools import Transcript
from nxs_lab.ui import ChatPanel, ToolPanel
from nxs_lab.ui.chat import CHAIN_LABEL

from .test_tools import make_toolbox

pytestmark = pytest.mark.timeout(120)


def test_chat_streams_into_the_panel_and_the_transcript(local_server: nx.LocalServer, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    panel = ChatPanel(local_server.provider(), max_tokens=16, system="Be brief.", transcript=str(path))
    panel.input.value = "Name a colour."
    panel.send_button.click()
    panel.wait(60)
    assert panel.error is None
    roles = [m["role"] for m in panel.messages]
    assert roles == ["system", "user", "assistant"] and panel.messages[-1]["content"]
    assert "answered by <b>local</b>" in panel.status.value
    assert "demonstration model" in panel.status.value and "nxs-lab init" in panel.status.value  # the bundled model
    assert panel.last_result.demo_model and any("demonstration model" in part for part in panel.last_result.trail())
    shown = panel.view.messages[-1]
    assert shown["role"] == "assistant" and shown["meta"].startswith("answered by") and panel.input.value == ""
    assert shown["html"].startswith("<") and panel.view.live == {}
    assert shown["mark"].startswith("cut at") == panel.last_result.truncated  # 16 tokens: cut, or a short answer
    assert (
        0 < panel.meter.value <= panel.meter.max == local_server.n_ctx and "server tokenizer" in panel.meter_label.value
    )
    assert [m["role"] for m in Transcript.load(path).messages] == roles  # every message was on disk


def test_chain_failover_is_shown(local_server: nx.LocalServer) -> None:
    with FaultServer(Fault.REFUSE) as dead:
        primary = nx.Provider(name="primary", base_url=dead.base_url, model="m")
        panel = ChatPanel([primary, local_server.provider(name="embedded")], max_tokens=8)
        assert panel.choice.value is CHAIN and panel.choice.label.startswith("all, in order")
        panel.send("hello", wait=True)
    assert "answered by <b>embedded</b>" in panel.status.value
    assert "primary: failed (ConnectionFailed)" in panel.status.value


def test_the_panel_keeps_a_request_log_without_content(
    local_server: nx.LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default in the runs folder (NXS_LAB__RUNS_DIR here): one line per attempt, for a chain and for one
    provider alike; never the messages."""
    monkeypatch.setenv("NXS_LAB__RUNS_DIR", str(tmp_path / "runs"))
    with FaultServer(Fault.REFUSE) as dead:
        primary = nx.Provider(name="primary", base_url=dead.base_url, model="m")
        panel = ChatPanel([primary, local_server.provider(name="embedded")], max_tokens=8)
        panel.send("a secret question", wait=True)
        panel.choice.value = "embedded"
        panel.send("another secret", wait=True)
    text = (tmp_path / "runs" / "requests.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(e["provider"], e["outcome"]) for e in lines] == [
        ("primary", "failed"),
        ("embedded", "ok"),
        ("embedded", "ok"),
    ]
    assert "secret" not in text
    assert ChatPanel(local_server.provider(), log=False).log is None


def test_an_unexpected_error_is_shown_on_the_status_line() -> None:
    """What the panel did not expect (here a bug in a provider subclass) ends the work visibly: on the status line,
    in ``error``, the panel free again."""

    class Broken(nx.Provider):
        def stream(self, messages, **params):  # type: ignore[override]
            raise RuntimeError("a bug in the provider")

    with FaultServer(Fault.OK) as srv:
        panel = ChatPanel(Broken(name="broken", base_url=srv.base_url, model="m"), log=False)
        panel.send("hello", wait=True)
    assert isinstance(panel.error, RuntimeError) and not panel.busy
    assert "RuntimeError: a bug in the provider" in panel.status.value and "b00020" in panel.status.value


def test_every_panel_has_the_one_status_line(local_server: nx.LocalServer) -> None:
    from nxs_lab.ui import DiscoveryPanel, QuantPanel
    from nxs_lab.ui._base import Panel

    tb, _ = make_toolbox()
    p = local_server.provider()
    for panel in (
        ChatPanel(p, log=False),
        ToolPanel(p, tb, log=False),
        DiscoveryPanel(),
        QuantPanel(nx.bundled_model_path()),
    ):
        assert isinstance(panel, Panel) and panel.status in panel.widget.children


def test_stop_keeps_the_partial_answer_marked(local_server: nx.LocalServer) -> None:
    panel = ChatPanel(local_server.provider(), max_tokens=400)
    panel.send("Write a long story about a lighthouse.")
    panel.stop_button.click()  # lands before or during the first tokens: the stream ends at the next one
    panel.wait(60)
    last = panel.messages[-1]
    assert last["role"] == "assistant" and last.get("stopped") and "stopped" in panel.status.value
    assert panel.view.messages[-1]["mark"] == "(stopped)"
    panel.clear_button.click()
    assert panel.messages == []


def test_empty_message_and_use_from_discovery(local_server: nx.LocalServer) -> None:
    panel = ChatPanel(local_server.provider(name="first"))
    panel.send_button.click()
    assert "type a message first" in panel.status.value and panel.messages == []
    panel.use(local_server.provider(name="picked"))
    assert panel.choice.value == "picked" and (CHAIN_LABEL, CHAIN) in panel.choice.options


def test_tool_panel_runs_the_loop_and_shows_the_trace(provider: nx.Provider) -> None:
    tb, _seen = make_toolbox()
    panel = ToolPanel(
        provider,
        tb,
        prompt="What do my notes say about rivers?",
        max_rounds=2,
        force_first="search_memory",
        max_tokens=48,
    )
    assert "search_memory" in panel.tools.value
    panel.run_button.click()
    panel.wait(120)
    assert panel.error is None and panel.run is not None
    assert "trace (live)" in panel.trace.value and "search_memory" in panel.trace.value
    assert "round(s)" in panel.status.value and len(panel.run.tool_steps) >= 1
    # it always ends with an answer: the model's own, or one asked for from the tool results when rounds ran out
    assert panel.run.outcome in (nx.tools.RunOutcome.ANSWERED, nx.tools.RunOutcome.ANSWERED_AT_LIMIT)
    assert panel.run.final is not None and "<b>answer</b>" in panel.answer.value
    assert "The first call was forced" in panel.answer.value  # and says what a model that can call tools does


def test_tool_panel_keeps_a_request_log_line_per_model_call(
    provider: nx.Provider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NXS_LAB__RUNS_DIR", str(tmp_path / "runs"))
    tb, _seen = make_toolbox()
    panel = ToolPanel(provider, tb, prompt="What do my secret notes say?", max_rounds=1, force_first="search_memory")
    panel.start(wait=True)
    with FaultServer(Fault.REFUSE) as dead:
        failing = ToolPanel(nx.Provider(name="dead", base_url=dead.base_url, model="m"), tb, prompt="hi")
        failing.start(wait=True)
    text = (tmp_path / "runs" / "requests.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert panel.run is not None and len(lines) == len(panel.run.trace) - len(panel.run.tool_steps) + 1
    assert {(e["op"], e["provider"], e["outcome"]) for e in lines[:-1]} == {("tools", provider.name, "ok")}
    assert all(e["prompt_tokens"] and e["model"] for e in lines[:-1])
    assert (lines[-1]["provider"], lines[-1]["outcome"], lines[-1]["error"]) == ("dead", "failed", "ConnectionFailed")
    assert isinstance(failing.error, nx.ConnectionFailed) and "secret" not in text
    assert ToolPanel(provider, tb, log=False).log is None


def test_stop_ends_a_silent_stream_at_once_and_send_while_busy_says_so() -> None:
    """The server accepted the request and says nothing (first_byte would wait 120 s): Stop ends it now."""
    with FaultServer(Fault.HANG) as silent:
        panel = ChatPanel(nx.Provider(name="silent", base_url=silent.base_url, model="m"))
        panel.send("hello")
        panel.input.value = "a second message"
        panel.send_button.click()
        assert "still answering" in panel.status.value and panel.input.value == "a second message"
        panel.stop_button.click()
        panel.wait(10)
        assert not panel.busy and panel.error is None
        assert panel.messages[-1].get("stopped") and "stopped" in panel.status.value
        assert not panel.send_button.disabled


def test_a_failed_provider_is_not_probed_again_from_the_panel() -> None:
    short = nx.config.Timeouts(connect=0.5, first_byte=1.0, idle=1.0)
    with FaultServer(Fault.HANG) as hung:
        panel = ChatPanel(nx.Provider(name="hung", base_url=hung.base_url, model="m", timeouts=short))
        panel.wait(10)  # the model dropdown's listing (it times out too: the dropdown keeps the configured model)
        before = hung.requests
        panel.send("hello", wait=True)
        # a chosen provider answers through a chain of one: the failure says what the provider did
        assert isinstance(panel.error, nx.AllProvidersFailed) and not panel.busy
        assert isinstance(panel.error.last_error, nx.ResponseTimeout) and "ResponseTimeout" in panel.status.value
        assert hung.requests == before + 1  # the chat request only: no window probe afterwards
        assert panel.model_choice.value == "m"


def test_stop_on_a_chain_releases_the_probe() -> None:
    import threading

    with FaultServer(Fault.HANG) as silent, FaultServer(Fault.OK) as ok:
        now = [0.0]
        primary = nx.Provider(name="primary", base_url=silent.base_url, model="m")
        chain = nx.FallbackChain(
            [primary, nx.Provider(name="ok", base_url=ok.base_url, model="m")],
            breaker=lambda _n: nx.CircuitBreaker(cooldown=5, clock=lambda: now[0]),
        )
        chain.breakers["primary"].record_failure(open_now=True)
        now[0] += 5  # cooled down: the next call is the single probe
        s = chain.stream([{"role": "user", "content": "hi"}])
        threading.Timer(0.5, s.stop).start()
        assert list(s) == [] and s.stopped and s.result is None
        assert ok.requests == 0  # a stopped stream tries no other provider
        assert chain.breakers["primary"].allow()  # the probe was given back


def test_a_reasoning_models_thinking_shows_collapsed_and_is_never_sent_back() -> None:
    """The thinking streams into a collapsed block apart from the answer; the next request carries the answer only
    (the panel's own marks, thinking included, never reach a server)."""
    from nxs_lab.testing.replies import THOUGHT

    with FaultServer(Fault.OK, reasoning="reasoning_content", chunk_interval=0.02) as srv:
        panel = ChatPanel(nx.Provider(name="thinker", base_url=srv.base_url, model="m"))
        panel.send("why?", wait=True)
        assert panel.error is None
        answer = panel.messages[-1]
        assert answer["content"] == "one two three four five six " and answer["reasoning"] == THOUGHT * 2
        shown = panel.view.messages[-1]
        assert shown["thinking"] == THOUGHT * 2 and "one two three" in shown["html"] and THOUGHT not in shown["html"]
        panel.send("and then?", wait=True)
        sent = srv.last_body["messages"]
        assert [set(m) for m in sent] == [{"role", "content"}] * 3 and sent[1]["content"] == answer["content"]


def test_a_prompt_the_server_cut_is_shown_in_the_panel() -> None:
    """An Ollama that cut the conversation to its window answers 200: the panel says so beside the answer."""
    with FaultServer(Fault.OK, prompt_tokens=50, fingerprint="fp_ollama") as srv:
        panel = ChatPanel(nx.Provider(name="ollama", base_url=srv.base_url, model="m"))
        panel.send("tell me about rivers and lakes and seas " * 200, wait=True)
        assert panel.last_result is not None and panel.last_result.prompt_truncated
        assert "the server cut the prompt" in panel.status.value


def test_answers_render_as_markdown_and_only_the_live_message_repaints() -> None:
    """The answer streams into ``live`` (a token repaints one message); the finished list changes twice: the
    user's message, then the answer, rendered from Markdown with its code highlighted and nothing raw."""
    answer = "Here is **bold**, a list:\n\n- one\n- two\n\n```python\nprint('hi')\n```\n\n<script>x()</script>"
    with FaultServer(Fault.OK, answer=answer, chunk_interval=0.05) as srv:
        panel = ChatPanel(nx.Provider(name="md", base_url=srv.base_url, model="m"))
        panel.wait(10)
        lists: list[int] = []
        lives: list[dict] = []
        panel.view.observe(lambda c: lists.append(len(c["new"])), names="messages")
        panel.view.observe(lambda c: lives.append(c["new"]), names="live")
        panel.send("show me", wait=True)
    assert lists == [1, 2]  # the user's message, then the finished answer: never per token
    assert len([x for x in lives if x]) >= 2 and lives[-1] == {}  # the answer grew in ``live``, then left it
    html = panel.view.messages[-1]["html"]
    assert "<strong>bold</strong>" in html and "<li>one</li>" in html and '<pre class="nxs-code">' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert panel.view.messages[-1]["text"] == answer  # what the copy button copies: the Markdown itself


def test_a_cut_answer_is_marked(local_server: nx.LocalServer) -> None:
    panel = ChatPanel(local_server.provider(), max_tokens=3)
    assert panel.max_tokens.value == 3
    panel.send("Write a long story about a lighthouse.", wait=True)
    assert panel.error is None and panel.last_result.truncated
    assert panel.messages[-1]["cut"] and panel.view.messages[-1]["mark"].startswith("cut at max_tokens")
    assert set(panel.messages[-1]) - {"cut", "meta", "reasoning"} == {"role", "content"}  # what is sent back


def test_the_model_dropdown_lists_chat_models_loaded_first() -> None:
    """An LM Studio with an unloaded text model, a loaded vision model and an embedding model: the dropdown offers
    the two chat models, the loaded one first, and the chosen one is the model the request names."""
    from .standins import LMSTUDIO

    with FaultServer(Fault.OK, routes=LMSTUDIO) as srv:
        panel = ChatPanel(nx.Provider(name="lms", base_url=srv.base_url))
        panel.wait(10)
        labels = [label for label, _ in panel.model_choice.options]
        assert [v for _, v in panel.model_choice.options] == ["gemma-3-4b-it", "qwen2.5-7b-instruct"]
        assert labels[0].startswith("gemma-3-4b-it (loaded)") and "(not loaded)" in labels[1]
        panel.model_choice.value = "qwen2.5-7b-instruct"
        panel.send("hi", wait=True)
        assert srv.last_body["model"] == "qwen2.5-7b-instruct"
        assert "answered by" in panel.status.value


def test_the_chain_uses_each_providers_own_model(local_server: nx.LocalServer) -> None:
    panel = ChatPanel([local_server.provider(name="a"), local_server.provider(name="b")], max_tokens=4)
    assert panel.model_choice.disabled and panel.model is None
    panel.choice.value = "a"
    panel.wait(30)
    assert not panel.model_choice.disabled and panel.model == local_server.chat_alias
