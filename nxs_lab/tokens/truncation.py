"""Notice a prompt the server cut: what it counted against what was sent."""

from __future__ import annotations

import dataclasses
import logging

from ..results import ChatResult
from .count import TokenCount

__all__ = ["check_truncation"]

log = logging.getLogger("nxs_lab.context")


def check_truncation(result: ChatResult, sent: TokenCount) -> ChatResult:
    """Flag ``result`` when the server counted fewer prompt tokens than were sent (beyond the count's error).

    Ollama answers an over-long prompt with a 200 after silently dropping its front; the
    only trace is a low ``usage.prompt_tokens``. A flagged result has ``prompt_truncated=True``.
    """
    got = result.usage.prompt_tokens
    if got is None:
        return dataclasses.replace(result, prompt_tokens_sent=sent.tokens)
    truncated = got < sent.tokens - sent.error
    if truncated:
        log.info(
            "%s cut the prompt: %d tokens sent (±%d), %d counted by the server", result.provider, sent.tokens,
            sent.error, got,
        )  # fmt: skip
    return dataclasses.replace(result, prompt_tokens_sent=sent.tokens, prompt_truncated=truncated)
