"""Ollama's native chat (``POST /api/chat``), used when a provider asks for a window (``num_ctx``).

Ollama's ``/v1`` endpoints take no ``num_ctx``: a model runs with its default window and a longer prompt is cut
silently. Its native API takes ``options.num_ctx`` on every request. The request is built from the same arguments
a ``/v1`` call takes, and the reply (or each NDJSON line of a stream) is read into the same shapes the SDK gives,
so results, streams, reasoning (``message.thinking``), tool calls and the truncation check are the kit's usual
ones. Shapes from Ollama's docs/api.md ("Generate a chat completion").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from types import SimpleNamespace as NS
from typing import Any

from ..errors import InvalidResponse

__all__ = ["AsyncLines", "chunk_from_line", "ollama_request", "reply_as_completion"]

_OPTIONS = {"max_tokens": "num_predict", "temperature": "temperature", "top_p": "top_p", "seed": "seed", "stop": "stop"}
_IGNORED = {"stream_options", "n", "user", "tool_choice", "parallel_tool_calls"}


def _message(m: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI-style message as Ollama takes it: text content, images apart, tool-call arguments as objects."""
    out: dict[str, Any] = {"role": m["role"]}
    content = m.get("content")
    if isinstance(content, list):
        texts, images = [], []
        for part in content:
            if part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif part.get("type") == "image_url":
                url = str((part.get("image_url") or {}).get("url", ""))
                images.append(url.split(",", 1)[1] if url.startswith("data:") else url)
        out["content"] = "".join(texts)
        if images:
            out["images"] = images
    else:
        out["content"] = content or ""
    calls = m.get("tool_calls")
    if calls:
        out["tool_calls"] = [
            {
                "function": {
                    "name": c["function"]["name"],
                    "arguments": json.loads(c["function"].get("arguments") or "{}"),
                }
            }
            for c in calls
        ]
    if m.get("role") == "tool" and m.get("name"):
        out["tool_name"] = m["name"]
    return out


def ollama_request(kw: Mapping[str, Any], num_ctx: int) -> dict[str, Any]:
    """The ``/api/chat`` body for the ``chat.completions.create`` arguments ``kw``, asking for ``num_ctx``."""
    options: dict[str, Any] = {"num_ctx": num_ctx}
    body: dict[str, Any] = {"model": kw["model"], "messages": [_message(m) for m in kw["messages"]]}
    for key, value in kw.items():
        if key in _OPTIONS:
            options[_OPTIONS[key]] = value
        elif key == "tools":
            body["tools"] = value
        elif key not in ("model", "messages", "stream", *_IGNORED):
            raise ValueError(f"{key!r} cannot be sent to Ollama's native chat (used for num_ctx)")
    body["options"] = options
    body["stream"] = bool(kw.get("stream"))
    return body


def _calls(message: Mapping[str, Any]) -> list[Any]:
    return [
        NS(
            index=i,
            id=f"call_{i}",
            type="function",
            function=NS(name=c["function"]["name"], arguments=json.dumps(c["function"].get("arguments") or {})),
        )
        for i, c in enumerate(message.get("tool_calls") or ())
    ]


def _usage(line: Mapping[str, Any]) -> NS | None:
    if "prompt_eval_count" not in line and "eval_count" not in line:
        return None
    prompt, completion = line.get("prompt_eval_count"), line.get("eval_count")
    total = prompt + completion if isinstance(prompt, int) and isinstance(completion, int) else None
    return NS(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


def _finish(line: Mapping[str, Any], has_calls: bool) -> str | None:
    if not line.get("done"):
        return None
    return "tool_calls" if has_calls else str(line.get("done_reason") or "stop")


def reply_as_completion(reply: Any, provider: str, base_url: str) -> NS:
    """A non-streamed ``/api/chat`` reply in the shape of an SDK chat completion."""
    if not isinstance(reply, dict) or not isinstance(reply.get("message"), dict):
        raise InvalidResponse("Ollama's /api/chat reply has no message", provider=provider, base_url=base_url)
    msg = reply["message"]
    calls = _calls(msg)
    message = NS(role="assistant", content=msg.get("content") or "", tool_calls=calls or None)
    if msg.get("thinking"):
        message.reasoning = msg["thinking"]
    return NS(
        model=reply.get("model"),
        choices=[NS(index=0, message=message, finish_reason=_finish({**reply, "done": True}, bool(calls)))],
        usage=_usage(reply),
        system_fingerprint="fp_ollama",
    )


def chunk_from_line(line: Any) -> NS:
    """One NDJSON line of a streamed ``/api/chat`` in the shape of an SDK chat completion chunk."""
    if not isinstance(line, dict) or not isinstance(line.get("message", {}), dict):
        raise InvalidResponse(f"an Ollama stream line is not a chat chunk: {str(line)[:100]}")
    msg = line.get("message") or {}
    calls = _calls(msg)
    delta = NS(content=msg.get("content") or None, tool_calls=calls or None, reasoning=msg.get("thinking") or None)
    return NS(
        model=line.get("model"),
        choices=[NS(index=0, delta=delta, finish_reason=_finish(line, bool(calls)))],
        usage=_usage(line) if line.get("done") else None,
        system_fingerprint="fp_ollama",
    )


class AsyncLines:
    """A sync iterator of chunks read on a worker thread, for :class:`~nxs_lab.AsyncChatStream` (the native client
    is synchronous; the caller's allowance follows each read into the thread)."""

    def __init__(self, lines: Iterator[NS]) -> None:
        self._lines = lines

    def __aiter__(self) -> AsyncLines:
        return self

    async def __anext__(self) -> NS:
        item = await asyncio.to_thread(next, self._lines, None)
        if item is None:
            raise StopAsyncIteration
        return item

    async def close(self) -> None:
        close = getattr(self._lines, "close", None)
        if close is not None:
            await asyncio.to_thread(close)
