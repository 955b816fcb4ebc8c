"""ContextBudget: keep every prompt inside a model's window, and notice when a server cuts one anyway.

    >>> b = ContextBudget(context_window=8192, max_tokens=4096, reserve=512)
    >>> b.max_input_tokens
    3584

:meth:`ContextBudget.fit` keeps the leading system prompt(s) and the latest
user turn (with anything after it), and the newest earlier turns that fit. A
turn is a user message and everything up to the next one, so an assistant's
tool call is never separated from its tool results. Dropped turns can be
summarized into one message instead of lost.

Past the window, the history is cut only at fixed points (``cut="stable"``, the
default), down to about half the budget, so the turns that follow append to a
prompt whose beginning the server has cached, instead of changing its first
turn every time (``cut="minimal"``: the whole prompt evaluated again per turn).
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._html import kv_table, rows_table
from ..errors import BudgetExceeded
from ..tokens.count import TokenCount, TokenCounter, ToolSpec
from ..tokens.truncation import check_truncation

__all__ = ["CUTS", "LOW_WATER", "ContextBudget", "FitResult", "check_truncation"]

Message = Mapping[str, Any]
Summarizer = Callable[[list[Message]], str]

CUTS = ("stable", "minimal")  # where a history is cut: at fixed points (cache-stable), or just enough every turn
LOW_WATER = 0.5  # a stable cut drops the history to about this share of the input budget (see docs/context.md)
SUMMARIES_KEPT = 8  # summaries a guard keeps by what they summarize


@dataclass(frozen=True, slots=True)
class FitResult:
    """What :meth:`ContextBudget.fit` sent: the messages, what it dropped, and the count with its method."""

    messages: list[Message]
    dropped: list[Message]
    count: TokenCount
    budget: ContextBudget
    summarized: bool = False

    @property
    def tokens(self) -> int:
        return self.count.tokens

    def as_row(self) -> dict[str, Any]:
        return {
            "kept messages": len(self.messages),
            "dropped messages": len(self.dropped),
            "summarized": self.summarized,
            "input tokens": self.count.tokens,
            "max input tokens": self.budget.max_input_tokens,
            "count": self.count.label(),
        }

    def _repr_html_(self) -> str:
        rows = [[i, m.get("role"), str(m.get("content") or "")[:80], "kept"] for i, m in enumerate(self.messages)]
        rows += [["-", m.get("role"), str(m.get("content") or "")[:80], "dropped"] for m in self.dropped]
        return kv_table("fit", self.as_row()) + rows_table("messages", ["#", "role", "content", "status"], rows)


@dataclass(frozen=True, slots=True)
class ContextBudget:
    """Tokens available for input: ``context_window − max_tokens − reserve``."""

    context_window: int
    max_tokens: int
    reserve: int = 0

    def __post_init__(self) -> None:
        if self.context_window <= 0 or self.max_tokens < 0 or self.reserve < 0:
            raise ValueError("context_window must be > 0, max_tokens and reserve >= 0")
        if self.max_input_tokens <= 0:
            raise ValueError(
                f"no room for input: window {self.context_window} − max_tokens {self.max_tokens} "
                f"− reserve {self.reserve} = {self.max_input_tokens}"
            )

    @property
    def max_input_tokens(self) -> int:
        return self.context_window - self.max_tokens - self.reserve

    def arithmetic(self) -> str:
        return (
            f"{self.context_window} window − {self.max_tokens} max_tokens − {self.reserve} reserve "
            f"= {self.max_input_tokens} input tokens"
        )

    def _repr_html_(self) -> str:
        return kv_table(
            "context budget",
            {
                "context window": self.context_window,
                "max tokens (output)": self.max_tokens,
                "reserve": self.reserve,
                "max input tokens": self.max_input_tokens,
            },
        )

    def fit(
        self,
        messages: Sequence[Message],
        counter: TokenCounter,
        *,
        strategy: str = "drop",
        summarizer: Summarizer | None = None,
        tools: ToolSpec | None = None,
        cut: str = "stable",
        low_water: float = LOW_WATER,
        summaries: MutableMapping[str, str] | None = None,
    ) -> FitResult:
        """Fit ``messages`` into :attr:`max_input_tokens`, counting each message at the upper bound of its count
        (exact counts have none), so a count that is off in its stated error never makes a fitted request overflow.

        ``strategy="drop"`` drops the oldest turns; ``"summarize"`` replaces them with one
        message written by ``summarizer(dropped_messages)`` (dropping more if even that does not fit).
        Raises :class:`~nxs_lab.errors.BudgetExceeded` when the system prompt plus the latest
        user turn alone do not fit. ``tools`` (the call's ``tools`` and ``tool_choice``, see
        :func:`~nxs_lab.context.counting.tool_spec`) are counted as part of the prompt, which they are.

        ``cut="stable"`` (the default) cuts the history only at fixed points: every ``(1 − low_water)`` of the
        input budget, counted from the conversation's first turn, so a cut drops down to about ``low_water`` of
        the budget, and the turns that follow append to an unchanged prefix the server has cached, until the
        history reaches the budget again. The points depend on the history alone, so the same history is cut the
        same way in any process. ``cut="minimal"`` drops just enough on every turn: the most history per turn,
        and a changed prefix (the whole prompt evaluated again) on every turn past the window.
        ``summaries`` keeps each summary by what it summarizes, so it stays byte-identical until the next cut
        (a guard keeps one for its calls).
        """
        check_fit_options(strategy, summarizer, cut, low_water)
        head, turns, tail = _partition(list(messages))
        limit = self.max_input_tokens
        pinned = counter.count_messages(head + tail, tools)
        if pinned.tokens > limit:
            raise BudgetExceeded(pinned.tokens, limit, self.arithmetic())
        empty = counter.count_messages([]).upper
        costs = [counter.count_messages(t).upper - empty for t in turns]  # each turn at its upper bound
        cutter = _Cutter(costs, limit - pinned.upper, limit, cut, low_water)
        keep_from = cutter.first()
        summary: list[Message] = []
        if keep_from and strategy == "summarize":
            assert summarizer is not None
            summary, keep_from = _summarized(summarizer, turns, keep_from, cutter, counter, summaries)
        # The final check counts the chat whole (exactly, where the server applies its template for us):
        # a template that is not the sum of its messages costs the oldest kept turns, never an overflow.
        chat = lambda k: head + summary + [m for t in turns[k:] for m in t] + tail  # noqa: E731
        count = counter.count_chat(chat(keep_from), tools)
        while count.upper > limit and keep_from < len(turns):
            keep_from = cutter.next(keep_from)
            if summary:
                assert summarizer is not None
                summary = _summary(summarizer, turns[:keep_from], summaries)  # the same turns: the same summary
            count = counter.count_chat(chat(keep_from), tools)
        if count.upper > limit:
            raise BudgetExceeded(count.upper, limit, self.arithmetic())
        dropped = [m for t in turns[:keep_from] for m in t]
        return FitResult(chat(keep_from), dropped, count, self, bool(summary))


def check_fit_options(strategy: str, summarizer: Summarizer | None, cut: str, low_water: float) -> None:
    """Raise ``ValueError`` naming the option that :meth:`ContextBudget.fit` cannot take."""
    if strategy not in ("drop", "summarize"):
        raise ValueError(f"strategy must be 'drop' or 'summarize', got {strategy!r}")
    if strategy == "summarize" and summarizer is None:
        raise ValueError("strategy='summarize' needs a summarizer(messages) -> str")
    if cut not in CUTS:
        raise ValueError(f"cut must be one of {', '.join(map(repr, CUTS))}, got {cut!r}")
    if not 0.0 <= low_water < 1.0:
        raise ValueError(f"low_water must be at least 0 and below 1, got {low_water!r}")


class _Cutter:
    """Where the history's earlier turns are cut: the first turn kept, and the next cut after one.

    Stable cuts sit where the turns' running total (from the first turn) passes a multiple of the step,
    ``(1 − low_water) × limit``: the cut needed moves with every turn, the cut made only every step.
    """

    def __init__(self, costs: list[int], room: int, limit: int, cut: str, low_water: float) -> None:
        self.costs, self.room, self.cut = costs, room, cut
        self.before = [0]  # before[i]: tokens of the turns before turn i
        for c in costs:
            self.before.append(self.before[-1] + c)
        self.step = max(1, round((1.0 - low_water) * limit))

    def kept(self, keep_from: int) -> int:
        return self.before[-1] - self.before[keep_from]

    def first(self) -> int:
        """The first turn kept: none dropped when all fit."""
        need = self.before[-1] - self.room  # tokens that must go
        if need <= 0:
            return 0
        if self.cut == "minimal":
            return min(bisect.bisect_left(self.before, need), len(self.costs))
        return self._at_point(-(-need // self.step))

    def next(self, keep_from: int) -> int:
        """The next cut after ``keep_from``: one more turn, or the next stable point."""
        if keep_from >= len(self.costs):
            return keep_from
        if self.cut == "minimal":
            return keep_from + 1
        return max(keep_from + 1, self._at_point(self.before[keep_from] // self.step + 1))

    def _at_point(self, k: int) -> int:
        """The first turn at or after the ``k``-th stable point (the running total at least ``k`` steps)."""
        return min(bisect.bisect_left(self.before, k * self.step), len(self.costs))


def _summarized(
    summarizer: Summarizer,
    turns: list[list[Message]],
    keep_from: int,
    cutter: _Cutter,
    counter: TokenCounter,
    memo: MutableMapping[str, str] | None,
) -> tuple[list[Message], int]:
    """The summary of the turns before ``keep_from`` and the first turn kept beside it, cutting further while the
    two do not fit; no summary (and the plain cut) when even the summary alone does not."""
    empty = counter.count_messages([]).upper
    summary = _summary(summarizer, turns[:keep_from], memo)
    while cutter.kept(keep_from) + counter.count_messages(summary).upper - empty > cutter.room:
        if keep_from >= len(turns):
            return [], cutter.first()
        keep_from = cutter.next(keep_from)
        summary = _summary(summarizer, turns[:keep_from], memo)
    return summary, keep_from


def _summary(
    summarizer: Summarizer, dropped_turns: list[list[Message]], memo: MutableMapping[str, str] | None
) -> list[Message]:
    """The summary message of ``dropped_turns``, from ``memo`` when it summarized the same turns before."""
    dropped = [m for t in dropped_turns for m in t]
    key = hashlib.sha256(json.dumps(dropped, sort_keys=True, default=str).encode()).hexdigest()
    text = memo.get(key) if memo is not None else None
    if text is None:
        text = summarizer(dropped)
        if memo is not None:
            if len(memo) >= SUMMARIES_KEPT:
                memo.pop(next(iter(memo)))
            memo[key] = text
    return [{"role": "system", "content": "Summary of the earlier conversation: " + text}]


def _partition(msgs: list[Message]) -> tuple[list[Message], list[list[Message]], list[Message]]:
    """(leading system messages, earlier turns oldest first, the latest user turn and what follows)."""
    n_head = 0
    while n_head < len(msgs) and msgs[n_head].get("role") in ("system", "developer"):
        n_head += 1
    last_user = max((i for i, m in enumerate(msgs) if m.get("role") == "user" and i >= n_head), default=None)
    if last_user is None:
        return msgs[:n_head], [], msgs[n_head:]
    middle = msgs[n_head:last_user]
    turns: list[list[Message]] = []
    for m in middle:
        if m.get("role") == "user" or not turns:
            turns.append([m])
        else:
            turns[-1].append(m)  # assistant replies, tool calls and their results stay with their turn
    return msgs[:n_head], turns, msgs[last_user:]
