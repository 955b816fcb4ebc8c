"""Keep every prompt inside the model's window: token counters, the budget and fit, the guard, overflow shapes."""

from ..client.overflow import OverflowInfo, parse_overflow
from .budget import ContextBudget, FitResult, check_truncation
from .counting import (
    ChatOverhead,
    CountMethod,
    EstimateCounter,
    GGUFCounter,
    ServerCounter,
    TiktokenCounter,
    TokenCount,
    TokenCounter,
    counter_for,
    tool_spec,
)
from .guard import AsyncContextGuard, ContextGuard

__all__ = [
    "AsyncContextGuard",
    "ChatOverhead",
    "ContextBudget",
    "ContextGuard",
    "CountMethod",
    "EstimateCounter",
    "FitResult",
    "GGUFCounter",
    "OverflowInfo",
    "ServerCounter",
    "TiktokenCounter",
    "TokenCount",
    "TokenCounter",
    "check_truncation",
    "counter_for",
    "parse_overflow",
    "tool_spec",
]
