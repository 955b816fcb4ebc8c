"""ToolPanel: the toolbox's tools with their schemas, a prompt, and the trace of a run as it happens."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from .._html import rows_table
from ..errors import NxsLabError
from ..tools.loop import ToolRun, TraceStep, run_tools
from ..tools.toolbox import Toolbox
from ._base import Panel

__all__ = ["ToolPanel"]


class ToolPanel(Panel):
    """Run the tool loop from a notebook; ``run`` holds the last :class:`~nxs_lab.tools.loop.ToolRun`."""

    def __init__(
        self,
        target: Any,
        toolbox: Toolbox,
        *,
        prompt: str = "",
        max_rounds: int = 4,
        force_first: str | None = None,
        **params: Any,
    ) -> None:
        self.target = target
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
            options=["(model decides)", *toolbox.names],
            value=force_first or "(model decides)",
            description="first call",
        )
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.status = widgets.HTML()
        self.trace = widgets.HTML()
        self.widget = widgets.VBox(
            [
                widgets.HTML("<b>Tools</b>"),
                self.tools,
                self.prompt,
                widgets.HBox([self.max_rounds, self.force, self.run_button]),
                self.status,
                self.trace,
            ]
        )
        self.widget.add_class("nxs-tool-panel")
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
        choice = self.force.value
        tool_choice = "auto" if choice == "(model decides)" else {"type": "function", "function": {"name": choice}}
        self._background(self._run, text, self.max_rounds.value, tool_choice, wait=wait)

    def _on_step(self, step: TraceStep) -> None:
        self._steps.append(step)
        rows = [list(s.as_row().values()) for s in self._steps]
        self.trace.value = rows_table("trace (live)", list(step.as_row()), rows)

    def _run(self, text: str, max_rounds: int, tool_choice: Any) -> None:
        try:
            self.run = run_tools(
                self.target,
                [{"role": "user", "content": text}],
                self.toolbox,
                max_rounds=max_rounds,
                tool_choice=tool_choice,
                on_step=self._on_step,
                **self.params,
            )
            failed = sum(1 for s in self.run.tool_steps if s.error)
            answer = html.escape(self.run.final.text if self.run.final else "")
            self.status.value = (
                f"{self.run.outcome.value} after {self.run.rounds} round(s); "
                f"{len(self.run.tool_steps)} tool call(s), {failed} failed; answer: {answer}"
            )
        except NxsLabError as exc:
            self.error = exc
            self.status.value = (
                f"<span style='color:#b00020'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</span>"
            )
        finally:
            self.run_button.disabled = False
