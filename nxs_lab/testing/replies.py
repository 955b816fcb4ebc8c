"""The bodies an OpenAI-compatible server sends (a completion, a stream chunk), in the shapes today's servers use,
for the fault kit's healthy replies."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["THOUGHT", "broken_stream", "chunk", "completion", "usage_chunk"]

# Where servers put a reasoning model's thinking (``reasoning=`` of an OK server):
#   "reasoning_content"  a field beside content: llama-server --reasoning-format deepseek, vLLM before 0.10,
#                        LM Studio with "separate reasoning_content" on, DeepSeek's own API
#   "reasoning"          the same under another name: Ollama's /v1, vLLM 0.10+, OpenRouter (gpt-oss and others)
#   "think"              inline in content, <think>…</think> first: a server that does not split it out
#   "opened"             inline, only …</think>: the chat template opened the block in the prompt (Qwen3,
#                        DeepSeek-R1 and others), on a server that does not split it out
THOUGHT = "The user wants a short answer. "


def completion(
    model: str,
    text: str = "stub answer",
    prompt_tokens: int = 5,
    *,
    reasoning: str | None = None,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """A chat completion body, with a reasoning model's thinking in the ``reasoning`` shape, if any."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning == "think":
        message["content"] = f"<think>{THOUGHT * 2}</think>\n\n{text}"
    elif reasoning == "opened":
        message["content"] = f"{THOUGHT * 2}</think>\n\n{text}"
    elif reasoning is not None:
        message[reasoning] = THOUGHT * 2
    usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": 2, "total_tokens": prompt_tokens + 2}
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": 12}
    reply: dict[str, Any] = {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage,
    }
    if fingerprint is not None:
        reply["system_fingerprint"] = fingerprint
    return reply


def chunk(
    model: str,
    content: str | None,
    finish: str | None = None,
    *,
    field: str = "content",
    fingerprint: str | None = None,
) -> bytes:
    """One server-sent event of a streamed chat completion, carrying ``content`` under ``field``."""
    delta = {field: content} if content is not None else {}
    payload: dict[str, Any] = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if fingerprint is not None:
        payload["system_fingerprint"] = fingerprint
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def usage_chunk(model: str, usage: dict[str, Any]) -> bytes:
    """The stream's closing event that carries only ``usage`` (``include_usage``): no choices."""
    payload = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model,
               "choices": [], "usage": usage}  # fmt: skip
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


_ERROR_EVENT = (
    b'data: {"error": {"message": "the model crashed while generating", "type": "server_error", "code": 500}}\n\n'
)
_DONE = b"data: [DONE]\n\n"


def broken_stream(shape: str, model: str, prompt_tokens: int, words: list[str]) -> bytes:
    """The whole body of a 200 stream a real server sends when something failed upstream, by the fault's name:
    ``stream-error`` an error event and nothing else (LM Studio, LiteLLM's proxy, llama.cpp); ``empty-stream`` only
    a usage chunk (LM Studio); ``empty-stop`` a finish with no answer (LiteLLM #36768); ``leaked-frame`` an error
    frame, then another deployment's whole answer (LiteLLM PR #30914)."""
    if shape == "stream-error":
        return _ERROR_EVENT
    if shape == "empty-stream":
        return usage_chunk(model, {"prompt_tokens": prompt_tokens, "completion_tokens": 0, "total_tokens": 0}) + _DONE
    if shape == "empty-stop":
        return chunk(model, None, "stop") + _DONE
    if shape == "leaked-frame":
        return _ERROR_EVENT + b"".join(chunk(model, w) for w in words) + chunk(model, None, "stop") + _DONE
    raise ValueError(f"no such broken stream: {shape!r}")
