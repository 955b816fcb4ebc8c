"""ToolPanel: the toolbox's tools with their schemas, a prompt, and the trace of a run as it happens."""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as widgets

from .._html import rows_table
from ..client import Provider
from ..errors import NxsLabError
from ..resilience.requestlog import RequestLog, default_request_log
from ..tools.loop import ToolRun, TraceStep, run_tools
from ..tools.toolbox import Toolbox
from ._base import Panel, panel_box
from .markdown import to_html

__all__ = ["ToolPanel"]

MODEL_DECIDES = "(model decides)"
# Said under a run whose first call was forced: what the forcing stands in for.
FORCED_NOTE = (
    "The first call was forced: this model cannot be trusted to choose a tool or write its arguments (a 135M model "
    "mostly invents them). A model trained for tool calling (Qwen 2.5 or 3, Llama 3.1 or newer, 7B and up) picks "
    "the tool and its arguments itself: set <i>first call</i> to <i>(model decides)</i>."
)


class _Logged:
    """A provider whose every chat is one line of the request log (the tool loop makes several per run)."""

    def __init__(self, provider: Provider, log: RequestLog) -> None:
        self.provider, self.log = provider, log

    def chat(self, messages: Any, **params: Any) -> Any:
        t0 = time.perf_counter()
        try:
            result = self.provider.chat(messages, **params)
        except NxsLabError as exc:
            self.log.call("tools", self.provider.name, t0, None, exc, model=params.get("model") or self.provider.model)
            raise
        self.log.call("tools", self.provider.name, t0, result)
        return result


class ToolPanel(Panel):
    """Run the tool loop from a notebook; ``run`` holds the last :class:`~nxs_lab.tools.loop.ToolRun`. ``log``: the
    request log, one line per model call and no content; ``True`` keeps it where ``nxs-lab logs`` reads it (the
    user's data folder, or the runs folder when one is set), ``False`` none; a chain's own log, if any, is the caller's choice."""

    def __init__(
        self,
        target: Any,
        toolbox: Toolbox,
        *,
        prompt: str = "",
        max_rounds: int = 4,
        force_first: str | None = None,
        log: RequestLog | bool | None = True,
        **params: Any,
    ) -> None:
        self.target = target
        self.log: RequestLog | None = default_request_log() if log is True else (log or None)
        self.toolbox = toolbox
        self.params = params
        self.tools = widgets.HTML(value=toolbox._repr_html_())
        self.prompt = widgets.Textarea(
            value=prompt,
            placeholder="Ask something the tools can help with…",
            layout=widgets.Layout(width="520px", height="60px"),
        )
        self.max_rounds = widgets.BoundedIntText(value=max_rounds, min=1, max=20, description="max rounds")
        self.force = widgets.Dropdown(
            options=[MODEL_DECIDES, *toolbox.names],
            value=force_first or MODEL_DECIDES,
            description="first call",
        )
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.status = widgets.HTML()
        self.answer = widgets.HTML()
        self.trace = widgets.HTML()
        self.widget = panel_box(
            [
                widgets.HTML("<b>Tools</b>"),
                self.tools,
                self.prompt,
                widgets.HBox([self.max_rounds, self.force, self.run_button]),
                self.status,
                self.answer,
                self.trace,
            ],
            "nxs-tool-panel",
        )
        self.run: ToolRun | None = None
        self.error: BaseException | None = None
        self._steps: list[TraceStep] = []
        self.run_button.on_click(lambda _b: self.start())

    def start(self, wait: bool = False) -> None:
        if self.busy:
            return
        text = self.prompt.value.strip()
        if not text:
            self.status.value = "<span style='color:#b00020'>type a prompt first</span>"
            return
        self._steps = []
        self.error = None
        self.run_button.disabled = True
        self.status.value = "running…"
        self.answer.value = ""
        choice = self.force.value
        tool_choice = "auto" if choice == MODEL_DECIDES else {"type": "function", "function": {"name": choice}}
        self._background(self._run, text, self.max_rounds.value, tool_choice, wait=wait)

    def _on_step(self, step: TraceStep) -> None:
        self._steps.append(step)
        rows = [list(s.as_row().values()) for s in self._steps]
        self.trace.value = rows_table("trace (live)", list(step.as_row()), rows)

    def _run(self, text: str, max_rounds: int, tool_choice: Any) -> None:
        try:
            target = self.target
            if self.log is not None and isinstance(target, Provider):
                target = _Logged(target, self.log)
            self.run = run_tools(
                target,
                [{"role": "user", "content": text}],
                self.toolbox,
                max_rounds=max_rounds,
                tool_choice=tool_choice,
                on_step=self._on_step,
                final_answer=True,
                **self.params,
            )
            self._show(self.run, forced=tool_choice != "auto")
        except NxsLabError as exc:
            self.error = exc
            self.status.value = (
                f"<span style='color:#b00020'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</span>"
            )
        finally:
            self.run_button.disabled = False

    def _show(self, run: ToolRun, forced: bool) -> None:
        failed = sum(1 for s in run.tool_steps if s.error)
        self.status.value = (
            f"{run.outcome.value} after {run.rounds} round(s); {len(run.tool_steps)} tool call(s), {failed} failed"
        )
        text = run.final.text if run.final is not None else ""
        body = to_html(text) if text.strip() else "<p><i>(the model gave no text)</i></p>"
        note = f"<p style='color:#666;font-size:12px'>{FORCED_NOTE}</p>" if forced else ""
        self.answer.value = f"<div class='nxs-answer'><b>answer</b>{body}</div>{note}"
