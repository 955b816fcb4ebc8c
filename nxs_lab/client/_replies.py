"""OpenAI-SDK replies turned into the kit's result objects; a reply that is not what it claims is refused.

Pure functions of the SDK object (no I/O), shared by the sync and async calls of :class:`~nxs_lab.Provider`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import InvalidResponse
from ..results import ChatResult, Embeddings, ToolCall, Usage
from ._boundary import shape_checked
from .reasoning import reasoning_field, split_thinking

__all__ = ["chat_result", "completion_result", "response_result", "vectors"]

log = logging.getLogger("nxs_lab.provider")
F = TypeVar("F", bound=Callable[..., Any])


def _refuses_bad_shapes(fn: F) -> F:
    """Every parser here takes ``(…, provider, base_url)`` last; a reply of the wrong shape is refused."""

    @functools.wraps(fn)
    def checked(*args: Any) -> Any:
        with shape_checked("the reply", args[-2], args[-1]):
            return fn(*args)

    return checked  # type: ignore[return-value]


@_refuses_bad_shapes
def lmstudio_completion(reply: Any, provider: str, base_url: str) -> Any:
    """LM Studio's native chat reply (an OpenAI chat completion plus ``stats``, ``model_info``, ``runtime``) as the
    SDK's type; the extra fields stay in its ``model_extra``."""
    from openai.types.chat import ChatCompletion
    from pydantic import ValidationError

    try:
        return ChatCompletion.model_validate(reply)
    except ValidationError as exc:
        raise InvalidResponse(
            f"/api/v0/chat/completions replied with something that is not a chat completion: {str(exc)[:300]}",
            provider=provider,
            base_url=base_url,
        ) from None


@_refuses_bad_shapes
def chat_result(resp: Any, model: str, t0: float, provider: str, base_url: str) -> ChatResult:
    choices = getattr(resp, "choices", None)
    if not choices:
        raise InvalidResponse(
            "the reply has no choices (not an OpenAI chat completion)", provider=provider, base_url=base_url
        )
    choice = choices[0]
    msg = choice.message
    calls = tuple(
        ToolCall(id=c.id or f"call_{i}", name=c.function.name, arguments=c.function.arguments or "")
        for i, c in enumerate(getattr(msg, "tool_calls", None) or ())
        if getattr(c, "function", None) is not None
    )
    latency = time.perf_counter() - t0
    text, reasoning = msg.content or "", reasoning_field(msg)
    if reasoning is None:
        reasoning, text = split_thinking(text)
    result = ChatResult(
        text=text,
        reasoning=reasoning,
        provider=provider,
        model=getattr(resp, "model", None) or model,
        finish_reason=choice.finish_reason,
        tool_calls=calls,
        usage=Usage.from_reply(resp),
        latency_s=latency,
        raw=resp,
    )
    log.debug("%s chat model=%s latency=%.3fs finish=%s", provider, result.model, latency, result.finish_reason)
    return result


@_refuses_bad_shapes
def completion_result(resp: Any, model: str, t0: float, provider: str, base_url: str) -> ChatResult:
    choices = getattr(resp, "choices", None)
    if not choices:
        raise InvalidResponse("the reply has no choices", provider=provider, base_url=base_url)
    latency = time.perf_counter() - t0
    return ChatResult(
        text=choices[0].text or "",
        provider=provider,
        model=getattr(resp, "model", None) or model,
        finish_reason=choices[0].finish_reason,
        usage=Usage.from_reply(resp),
        latency_s=latency,
        endpoint="completions",
        raw=resp,
    )


@_refuses_bad_shapes
def response_result(
    resp: Any, model: str, t0: float, provider: str, base_url: str, limit: int | None = None
) -> ChatResult:
    """A Responses API reply as a chat result, in chat's finish-reason vocabulary (``stop``, ``length``,
    ``tool_calls``, ``content_filter``). ``limit``: the ``max_output_tokens`` asked for. A reply that used all of
    it is cut, whatever its status says (llama-server calls such a reply ``completed``)."""
    if not hasattr(resp, "output"):
        raise InvalidResponse("the reply is not a Responses API object", provider=provider, base_url=base_url)
    latency = time.perf_counter() - t0
    calls = tuple(
        ToolCall(id=getattr(item, "call_id", "") or "", name=item.name, arguments=item.arguments or "")
        for item in resp.output or ()
        if getattr(item, "type", None) == "function_call"
    )
    usage = Usage.from_reply(resp)
    finish = _response_finish(resp, bool(calls))
    if finish == "stop" and limit is not None and usage.completion_tokens is not None:
        finish = "length" if usage.completion_tokens >= limit else finish
    return ChatResult(
        text=resp.output_text or "",
        provider=provider,
        model=getattr(resp, "model", None) or model,
        finish_reason=finish,
        tool_calls=calls,
        usage=usage,
        latency_s=latency,
        endpoint="responses",
        raw=resp,
    )


def _response_finish(resp: Any, called: bool) -> str | None:
    """A Responses ``status`` (and ``incomplete_details.reason``) as chat's ``finish_reason``."""
    status = getattr(resp, "status", None)
    if status == "completed":
        return "tool_calls" if called else "stop"
    if status == "incomplete":
        reason = getattr(getattr(resp, "incomplete_details", None), "reason", None)
        return {"max_output_tokens": "length", "content_filter": "content_filter"}.get(str(reason), "incomplete")
    return status


@_refuses_bad_shapes
def vectors(resp: Any, n: int, pool: bool, provider: str, base_url: str) -> Embeddings:
    """One vector per input. A server that returns one vector per *token* (llama.cpp run without pooling) has
    them mean-pooled, as its own ``--pooling mean`` would, and the result says so (``pooled``); with
    ``pool=False`` that is an error instead."""
    data = getattr(resp, "data", None)
    if not isinstance(data, list) or len(data) != n:
        raise InvalidResponse(
            f"asked for {n} embeddings, got {len(data) if isinstance(data, list) else 'none'}",
            provider=provider,
            base_url=base_url,
        )
    out = [d.embedding for d in sorted(data, key=lambda d: d.index)]
    if any(not isinstance(v, list) for v in out):
        raise InvalidResponse("an embedding is not a list of numbers", provider=provider, base_url=base_url)
    per_token = [i for i, v in enumerate(out) if v and isinstance(v[0], list)]
    if not per_token:
        return Embeddings(out)
    if not pool:
        raise InvalidResponse(
            f"the server returned one vector per token, not one per input (input {per_token[0]}; it runs without "
            "pooling): start it with --pooling mean, or let the kit pool them (pool=True)",
            provider=provider,
            base_url=base_url,
        )
    return Embeddings([_mean(v) if v and isinstance(v[0], list) else v for v in out], pooled=True)


def _mean(rows: list[list[float]]) -> list[float]:
    """The mean of per-token vectors (all of one width; an empty list for an input of no tokens)."""
    if not rows:
        return []
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise ValueError(f"per-token vectors of different widths ({width} and others)")
    return [sum(col) / len(rows) for col in zip(*rows, strict=True)]
