"""Token primitives, below the client: counts, the counters that need no provider, the chat-overhead model, a
call's tool spec, and the truncation check. Nothing here sends a request; the counters that ask a server live
in :mod:`nxs_lab.context`."""

from .count import TOOLS_PREAMBLE, ChatOverhead, CountMethod, TokenCount, TokenCounter, ToolSpec, tool_spec
from .counters import EstimateCounter, GGUFCounter, TiktokenCounter, load_offline_encoding
from .truncation import check_truncation

__all__ = [
    "TOOLS_PREAMBLE",
    "ChatOverhead",
    "CountMethod",
    "EstimateCounter",
    "GGUFCounter",
    "TiktokenCounter",
    "TokenCount",
    "TokenCounter",
    "ToolSpec",
    "check_truncation",
    "load_offline_encoding",
    "tool_spec",
]
