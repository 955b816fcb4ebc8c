"""The tool-calling loop: model → tool calls → results → … → a final answer, with a trace of every step.

    >>> run = run_tools(provider, [{"role": "user", "content": "What do my notes say about rivers?"}],
    ...                 toolbox, max_rounds=4, tool_choice={"type": "function", "function": {"name": "search_memory"}})
    ...                                                                    # doctest: +SKIP
    >>> run.outcome, run.final.text, run.to_dataframe()                    # doctest: +SKIP

Bad model output never breaks the loop: each failed call comes back to the
model as a tool message saying what was wrong, so it can correct itself. The
loop always ends within ``max_rounds`` model calls, with a clear outcome.
"""

from __future__ import annotations

import concurrent.futures
import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._html import kv_table, rows_table
from .._optional import needs
from ..defaults import MAX_CALLS_PER_TURN
from ..results import ChatResult, ToolCall
from .toolbox import Toolbox, ToolOutcome

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PARALLEL_CALLS", "RunOutcome", "ToolRun", "TraceStep", "run_tools"]

# Calls of one turn run at most this many at a time: tools wait on I/O, and eight is plenty of overlap.
PARALLEL_CALLS = 8


class RunOutcome(str, enum.Enum):
    ANSWERED = "answered"  # the model gave a final answer without asking for more tools
    MAX_ROUNDS = "max rounds reached"  # it was still calling tools when the rounds ran out
    ANSWERED_AT_LIMIT = "answered when the rounds ran out"  # ``final_answer``: asked to answer from the results


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One step: a model turn, or one tool call with its arguments and result or error."""

    round: int
    kind: str  # model | tool | answer (the final answer asked for when the rounds ran out)
    name: str
    arguments: str = ""
    result: str = ""
    error: str | None = None
    seconds: float = 0.0
    provider: str = ""

    def as_row(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "step": self.kind,
            "name": self.name,
            "arguments": self.arguments,
            "result": self.result[:200],
            "error": self.error,
            "ms": round(self.seconds * 1000, 1),
            "provider": self.provider,
        }


@dataclass
class ToolRun:
    """The whole run: the conversation as it grew, the final answer, and the trace."""

    messages: list[dict[str, Any]]
    outcome: RunOutcome
    final: ChatResult | None
    trace: list[TraceStep] = field(default_factory=list)
    rounds: int = 0

    @property
    def tool_steps(self) -> list[TraceStep]:
        return [s for s in self.trace if s.kind == "tool"]

    def to_dataframe(self) -> pd.DataFrame:
        with needs():
            import pandas as pd

        return pd.DataFrame([s.as_row() for s in self.trace])

    def _repr_html_(self) -> str:
        head = kv_table(
            "tool run",
            {
                "outcome": self.outcome.value,
                "rounds": self.rounds,
                "tool calls": len(self.tool_steps),
                "failed calls": sum(1 for s in self.tool_steps if s.error),
                "final answer": self.final.text if self.final else None,
            },
        )
        rows = [list(s.as_row().values()) for s in self.trace]
        return head + rows_table("trace", list(TraceStep(0, "", "").as_row()), rows)


def run_tools(
    target: Any,
    messages: Sequence[Mapping[str, Any]],
    toolbox: Toolbox,
    *,
    max_rounds: int = 5,
    tool_choice: Any = "auto",
    parallel: bool = True,
    max_calls_per_turn: int = MAX_CALLS_PER_TURN,
    on_step: Callable[[TraceStep], Any] | None = None,
    final_answer: bool = False,
    **params: Any,
) -> ToolRun:
    """Run the loop against a :class:`~nxs_lab.Provider` or :class:`~nxs_lab.FallbackChain`.

    ``tool_choice`` applies to the first round only (forcing a call every round would never end);
    later rounds use ``"auto"``. ``on_step`` sees each :class:`TraceStep` as it happens (panels use it).
    A turn runs at most ``max_calls_per_turn`` calls (the rest are answered "too-many-calls"), at most
    :data:`PARALLEL_CALLS` at a time when ``parallel``.

    ``final_answer``: when the rounds run out while the model still asks for tools, ask it once more, with
    ``tool_choice="none"``, to answer from the tool results it has (outcome ``ANSWERED_AT_LIMIT``; the trace's
    last step is an ``answer``). A small model that keeps calling tools then still ends with an answer.
    """
    _check_limits(max_rounds, max_calls_per_turn, toolbox)
    msgs: list[dict[str, Any]] = [dict(m) for m in messages]
    trace: list[TraceStep] = []

    def record(step: TraceStep) -> None:
        trace.append(step)
        if on_step is not None:
            on_step(step)

    final: ChatResult | None = None
    for rnd in range(1, max_rounds + 1):
        t0 = time.perf_counter()
        result: ChatResult = target.chat(
            msgs, tools=toolbox.schemas(), tool_choice=tool_choice if rnd == 1 else "auto", **params
        )
        called = ", ".join(c.name for c in result.tool_calls)
        seconds = time.perf_counter() - t0
        record(TraceStep(rnd, "model", result.model, called, result.text or "", None, seconds, result.provider))
        final = result
        if not result.tool_calls:
            return ToolRun(msgs + [result.message()], RunOutcome.ANSWERED, result, trace, rnd)
        msgs.append(result.message())
        calls = list(result.tool_calls)
        outcomes = _run_calls(toolbox, calls, parallel, max_calls_per_turn)
        for call, out in zip(calls, outcomes, strict=True):
            msgs.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": out.content})
            record(_tool_step(rnd, call.arguments, out))
    answered = _answer_at_limit(target, msgs, toolbox, params, record, max_rounds) if final_answer else None
    if answered is not None:
        return ToolRun(msgs + [answered.message()], RunOutcome.ANSWERED_AT_LIMIT, answered, trace, max_rounds)
    return ToolRun(msgs, RunOutcome.MAX_ROUNDS, final, trace, max_rounds)


def _check_limits(max_rounds: int, max_calls_per_turn: int, toolbox: Toolbox) -> None:
    if max_rounds < 1:
        raise ValueError("max_rounds must be at least 1")
    if max_calls_per_turn < 1:
        raise ValueError("max_calls_per_turn must be at least 1")
    if not len(toolbox):
        raise ValueError("the toolbox is empty: register at least one tool")


def _answer_at_limit(
    target: Any,
    msgs: list[dict[str, Any]],
    toolbox: Toolbox,
    params: dict[str, Any],
    record: Callable[[TraceStep], None],
    rounds: int,
) -> ChatResult | None:
    """The model's answer from the tool results so far (``tool_choice="none"``), or ``None`` if it still calls."""
    t0 = time.perf_counter()
    result: ChatResult = target.chat(msgs, tools=toolbox.schemas(), tool_choice="none", **params)
    seconds = time.perf_counter() - t0
    record(
        TraceStep(rounds, "answer", result.model, result=result.text or "", seconds=seconds, provider=result.provider)
    )
    return None if result.tool_calls else result


def _run_calls(toolbox: Toolbox, calls: list[ToolCall], parallel: bool, limit: int) -> list[ToolOutcome]:
    """One turn's calls: the first ``limit`` run (a few at a time), the rest are refused with a reason."""
    run, refused = calls[:limit], calls[limit:]
    if parallel and len(run) > 1:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(PARALLEL_CALLS, len(run))) as pool:
            outcomes = list(pool.map(lambda c: toolbox.call(c.name, c.arguments), run))
    else:
        outcomes = [toolbox.call(c.name, c.arguments) for c in run]
    message = f"error (too-many-calls): at most {limit} tool calls per turn; this one was not run"
    return outcomes + [ToolOutcome(c.name, False, message, error="too-many-calls") for c in refused]


def _tool_step(rnd: int, arguments: str, out: ToolOutcome) -> TraceStep:
    return TraceStep(
        rnd, "tool", out.name, arguments=arguments, result=out.content, error=out.error, seconds=out.seconds
    )
