"""Talking to one OpenAI-compatible endpoint: :class:`Provider` (sync), :class:`AsyncProvider`, the
:class:`ModelCatalog` they share, their streams and replies.

The openai SDK and httpx2 are used here and nowhere else in the core; their errors are
translated into :mod:`nxs_lab.errors` at one boundary (``_boundary``).
"""

from ._allowance import counting_resent
from ._base import BaseProvider
from .async_provider import AsyncProvider
from .catalog import ModelCatalog
from .provider import Provider
from .streaming import AsyncChatStream, ChatStream

__all__ = [
    "AsyncChatStream",
    "AsyncProvider",
    "BaseProvider",
    "ChatStream",
    "ModelCatalog",
    "Provider",
    "counting_resent",
]
