"""ContextBudget: keep every prompt inside a model's window, and notice when a server cuts one anyway.

    >>> b = ContextBudget(context_window=8192, max_tokens=4096, reserve=512)
    >>> b.max_input_tokens
    3584

:meth:`ContextBudget.fit` keeps the leading system prompt(s) and the latest
user turn (with anything after it), then adds whole earlier turns from newest
to oldest while they fit. A turn is a user message and everything up to the
next one, so an assistant's tool call is never separated from its tool
results. Dropped turns can be summarized into one message instead of lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._html import kv_table, rows_table
from ..errors import BudgetExceeded
from ..tokens.count import TokenCount, TokenCounter, ToolSpec
from ..tokens.truncation import check_truncation

__all__ = ["ContextBudget", "FitResult", "check_truncation"]

Message = Mapping[str, Any]
Summarizer = Callable[[list[Message]], str]


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
    ) -> FitResult:
        """Fit ``messages`` into :attr:`max_input_tokens`, counting each message at the upper bound of its count
        (exact counts have none), so a count that is off in its stated error never makes a fitted request overflow.

        ``strategy="drop"`` drops the oldest turns; ``"summarize"`` replaces them with one
        message written by ``summarizer(dropped_messages)`` (dropping more if even that does not fit).
        Raises :class:`~nxs_lab.errors.BudgetExceeded` when the system prompt plus the latest
        user turn alone do not fit. ``tools`` (the call's ``tools`` and ``tool_choice``, see
        :func:`~nxs_lab.context.counting.tool_spec`) are counted as part of the prompt, which they are.
        """
        if strategy not in ("drop", "summarize"):
            raise ValueError(f"strategy must be 'drop' or 'summarize', got {strategy!r}")
        if strategy == "summarize" and summarizer is None:
            raise ValueError("strategy='summarize' needs a summarizer(messages) -> str")
        msgs = list(messages)
        head, turns, tail = _partition(msgs)
        limit = self.max_input_tokens
        pinned = counter.count_messages(head + tail, tools)
        if pinned.tokens > limit:
            raise BudgetExceeded(pinned.tokens, limit, self.arithmetic())
        used = pinned.upper
        empty = counter.count_messages([]).upper
        keep_from = len(turns)
        for i in range(len(turns) - 1, -1, -1):
            cost = counter.count_messages(turns[i]).upper - empty  # the turn's messages at their upper bound
            if used + cost > limit:
                break
            used += cost
            keep_from = i
        dropped = [m for t in turns[:keep_from] for m in t]
        kept_turns = [m for t in turns[keep_from:] for m in t]
        summary: list[Message] = []
        if dropped and strategy == "summarize":
            assert summarizer is not None
            summary = [{"role": "system", "content": "Summary of the earlier conversation: " + summarizer(dropped)}]
            while counter.count_messages(head + summary + kept_turns + tail, tools).upper > limit:
                if not kept_turns:  # the summary itself does not fit: fall back to plain dropping
                    summary = []
                    break
                kept_turns = self._drop_first_turn(kept_turns, dropped)
        # The final check counts the chat whole (exactly, where the server applies its template for us):
        # a template that is not the sum of its messages costs the oldest kept turns, never an overflow.
        count = counter.count_chat(head + summary + kept_turns + tail, tools)
        while count.upper > limit and kept_turns:
            kept_turns = self._drop_first_turn(kept_turns, dropped)
            count = counter.count_chat(head + summary + kept_turns + tail, tools)
        if count.upper > limit:
            raise BudgetExceeded(count.upper, limit, self.arithmetic())
        return FitResult(head + summary + kept_turns + tail, dropped, count, self, bool(summary))

    @staticmethod
    def _drop_first_turn(kept_turns: list[Message], dropped: list[Message]) -> list[Message]:
        """``kept_turns`` without its oldest turn, which joins ``dropped``."""
        n_first = _first_turn_len(kept_turns)
        dropped += kept_turns[:n_first]
        return kept_turns[n_first:]


def _first_turn_len(messages: list[Message]) -> int:
    for i in range(1, len(messages)):
        if messages[i].get("role") == "user":
            return i
    return len(messages)


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
