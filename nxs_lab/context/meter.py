"""How much of a model's window a conversation takes: the figure behind a chat's context meter.

    >>> meter = ContextMeter()
    >>> use = meter.measure(provider, messages)                      # doctest: +SKIP
    >>> use.label()                                                  # doctest: +SKIP
    '812 / 2048 tokens (server tokenizer)'

Each provider's counter is made once (see :func:`~nxs_lab.context.counting.counter_for`, with no calibration
request), so measuring after every answer costs only the new messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..client import Provider
from ..tokens.count import TokenCount, TokenCounter
from .counting import counter_for

__all__ = ["ContextMeter", "ContextUse"]


@dataclass(frozen=True, slots=True)
class ContextUse:
    """Tokens a conversation takes (with how they were counted) of the model's window (``None``: unknown)."""

    count: TokenCount
    window: int | None
    window_from: str = ""

    @property
    def tokens(self) -> int:
        return self.count.tokens

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.count.tokens / self.window) if self.window else None

    def label(self) -> str:
        if self.window:
            return f"{self.count.tokens} / {self.window} tokens ({self.count.method.value})"
        return f"{self.count.tokens} tokens; window unknown"


class ContextMeter:
    """Measures conversations against providers' windows, keeping one counter per provider."""

    def __init__(self) -> None:
        self._counters: dict[str, TokenCounter] = {}

    def measure(
        self, provider: Provider, messages: Sequence[Mapping[str, Any]], model: str | None = None
    ) -> ContextUse:
        """The conversation's count against ``provider``'s window for ``model``. Raises what the provider raises
        when it cannot say (a :class:`~nxs_lab.errors.NxsLabError`)."""
        window, source = provider.context_window_info(model)
        counter = self._counters.get(provider.name)
        if counter is None:
            counter = self._counters[provider.name] = counter_for(provider, model, calibrate=False)
        return ContextUse(counter.count_messages(list(messages)), window, source)
