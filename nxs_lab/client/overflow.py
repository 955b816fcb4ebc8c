"""Recognise a context-window overflow in any server's error reply.

Every server words it differently (see the server-kinds table in docs/design.md). This module
turns a status code and an error body into the two numbers that matter,
``prompt_tokens`` and ``context_window``, or says "this is not an overflow".
It is pure: no I/O, tested by table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["OverflowInfo", "parse_overflow"]


@dataclass(frozen=True, slots=True)
class OverflowInfo:
    """What an overflow error said. Numbers are ``None`` where the server did not state them."""

    prompt_tokens: int | None
    context_window: int | None
    shape: str  # which server's wording matched, for the record


# OpenAI, vLLM, llama-cpp-python:
#   "This model's maximum context length is 2048 tokens. However, you requested 2100 tokens
#    (2000 in the messages, 100 in the completion)."
_OPENAI = re.compile(
    r"maximum context length is (?P<window>\d+) tokens.*?(?:requested|resulted in) (?P<requested>\d+) tokens"
    r"(?:\s*\((?P<prompt>\d+) in (?:the messages|your prompt))?",
    re.IGNORECASE | re.DOTALL,
)
# LM Studio: "Trying to keep the first 5000 tokens when context the overflows. However, the model
#   is loaded with context length of 4096 tokens, which is not enough."
_LMSTUDIO = re.compile(
    r"keep the first (?P<prompt>\d+) tokens.*?context length of (?P<window>\d+)",
    re.IGNORECASE | re.DOTALL,
)
# LM Studio, newer (lmstudio-bug-tracker#2205, openclaude#353, opencode#11141): "The number of tokens to keep from
#   the initial prompt is greater than the context length (n_keep: 13055>= n_ctx: 4096)", or "Cannot truncate prompt
#   with n_keep (15028) >= n_ctx (7424)"; n_keep is the prompt it was asked to keep.
_NKEEP = re.compile(r"n_keep\W*(?P<prompt>\d+)\W*>=\s*n_ctx\W*(?P<window>\d+)", re.IGNORECASE)
# llama.cpp server (text form): "the request exceeds the available context size (4096 tokens), try increasing it"
_LLAMACPP_TEXT = re.compile(r"exceeds the available context size[^\d]*(?P<window>\d+)", re.IGNORECASE)
# llama-cpp-python internals, should the raw error leak: "Requested tokens (3000) exceed context window of 2048"
_LLAMA_RAW = re.compile(r"Requested tokens \((?P<prompt>\d+)\) exceed context window of (?P<window>\d+)")
# Anything else that plainly says so (cloud gateways, Moonshot, Ollama native).
_GENERIC = re.compile(
    r"context[ _](?:length|window)[ _]exceeded|context length|prompt is too long|too many tokens"
    r"|input is too long|exceeds? (?:the )?(?:model'?s? )?(?:maximum )?context"
    r"|tokens to keep from the initial prompt",
    re.IGNORECASE,
)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _error_dict(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        inner = body.get("error", body)
        return inner if isinstance(inner, dict) else {"message": str(inner)}
    return {}


def parse_overflow(status: int | None, body: Any, message: str = "") -> OverflowInfo | None:
    """Return :class:`OverflowInfo` when ``body``/``message`` describe a context overflow.

    ``body`` is the decoded JSON error body (a dict) or raw text; ``message`` is
    any extra text (e.g. the SDK's error message). Only 4xx replies and replies
    with no status (stream errors) can be overflows.

    >>> parse_overflow(400, {"error": {"message": "This model's maximum context length is 2048 tokens. "
    ...     "However, you requested 2100 tokens (2000 in the messages, 100 in the completion)."}})
    OverflowInfo(prompt_tokens=2000, context_window=2048, shape='openai')
    """
    if status is not None and not 400 <= status < 500:
        return None
    err = _error_dict(body)
    # llama.cpp's structured form carries the numbers as fields.
    if err.get("type") == "exceed_context_size_error" or err.get("code") == "exceed_context_size_error":
        return OverflowInfo(_int(err.get("n_prompt_tokens")), _int(err.get("n_ctx")), "llama.cpp")
    text = " ".join(
        str(part) for part in (err.get("message", ""), body if isinstance(body, str) else "", message) if part
    )
    if m := _OPENAI.search(text):
        prompt = _int(m.group("prompt"))
        return OverflowInfo(
            prompt if prompt is not None else _int(m.group("requested")), _int(m.group("window")), "openai"
        )
    if m := _LMSTUDIO.search(text) or _NKEEP.search(text):
        return OverflowInfo(_int(m.group("prompt")), _int(m.group("window")), "lmstudio")
    if m := _LLAMA_RAW.search(text):
        return OverflowInfo(_int(m.group("prompt")), _int(m.group("window")), "llama-cpp-python")
    if m := _LLAMACPP_TEXT.search(text):
        return OverflowInfo(None, _int(m.group("window")), "llama.cpp")
    if err.get("code") == "context_length_exceeded" or _GENERIC.search(text):
        return OverflowInfo(None, None, "generic")
    return None
