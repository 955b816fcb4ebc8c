"""Result objects: what a call returns, rendered as a table in a notebook."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ._html import kv_table, rows_table
from .defaults import DEMO_MODEL_MARK, DEMO_MODEL_NOTE

__all__ = [
    "Attempt",
    "ChatResult",
    "EmbeddingResult",
    "Embeddings",
    "Health",
    "Outcome",
    "ToolCall",
    "Usage",
    "attempts_table",
]


class Outcome(str, enum.Enum):
    """How one attempt at one provider ended."""

    OK = "ok"
    FAILED = "failed"  # moved on to the next provider
    RETRIED = "retried"  # tried the same provider again after a wait
    STOPPED = "stopped"  # the error ended the whole call
    SKIPPED_OPEN = "skipped: breaker open"
    SKIPPED_AUTH = "skipped: auth refused"
    SKIPPED_RATE = "skipped: local rate limit"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at one provider within a call: what happened, why, and when (seconds from the call's start)."""

    provider: str
    outcome: Outcome
    started_s: float
    elapsed_s: float
    error: str | None = None
    status: int | None = None
    detail: str = ""

    def as_row(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "outcome": self.outcome.value,
            "error": self.error,
            "status": self.status,
            "started_ms": round(self.started_s * 1000, 2),
            "elapsed_ms": round(self.elapsed_s * 1000, 2),
            "detail": self.detail,
        }


def attempts_table(attempts: tuple[Attempt, ...] | list[Attempt], title: str = "attempts") -> str:
    rows = [a.as_row() for a in attempts]
    cols = list(rows[0]) if rows else ["provider"]
    return rows_table(title, cols, [list(r.values()) for r in rows])


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the server reported them (``None`` where it did not).

    ``cached_tokens``: of the prompt tokens, those the server reused from its cache instead of evaluating again
    (``usage.prompt_tokens_details.cached_tokens`` from OpenAI, vLLM, llama-server and most cloud APIs, Moonshot's
    ``usage.cached_tokens``, llama-server's ``timings.cache_n``); ``None`` where the server does not say.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None  # of the completion tokens, those spent thinking (where the server says)
    cached_tokens: int | None = None  # of the prompt tokens, those the server reused from its cache

    @classmethod
    def from_sdk(cls, usage: Any, timings: Any = None) -> Usage:
        """From a reply's ``usage`` (an SDK object or a dict), and llama-server's ``timings`` where the usage says
        nothing of the cache."""
        cached = _int(_field(timings, "cache_n"))
        if usage is None:
            return cls(cached_tokens=cached)
        prompt = _field(usage, "prompt_tokens")
        if prompt is None:
            prompt = _field(usage, "input_tokens")  # Responses API naming
        completion = _field(usage, "completion_tokens")
        if completion is None:
            completion = _field(usage, "output_tokens")
        total = _field(usage, "total_tokens")
        if total is None and prompt is not None and completion is not None:
            total = prompt + completion
        details = _field(usage, "completion_tokens_details") or _field(usage, "output_tokens_details")
        reasoning = _int(_field(details, "reasoning_tokens"))
        prompt_details = _field(usage, "prompt_tokens_details") or _field(usage, "input_tokens_details")
        said = _int(_field(prompt_details, "cached_tokens"))
        if said is None:
            said = _int(_field(usage, "cached_tokens"))  # Moonshot
        return cls(prompt, completion, total, reasoning, said if said is not None else cached)

    @classmethod
    def from_reply(cls, reply: Any) -> Usage:
        """The usage of a whole reply or a stream's chunk: its ``usage``, and its ``timings`` (llama-server)."""
        extra = getattr(reply, "model_extra", None) or {}
        return cls.from_sdk(getattr(reply, "usage", None), extra.get("timings"))


def _field(obj: Any, name: str) -> Any:
    """``obj[name]`` or ``obj.name``; ``None`` when ``obj`` is ``None`` or has no such field."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None)  # an SDK object keeps fields it does not know here
        value = extra.get(name) if isinstance(extra, dict) else None
    return value


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the model asked for. ``arguments`` is the raw JSON text the model wrote."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON; raises ``json.JSONDecodeError`` on malformed text."""
        return json.loads(self.arguments) if self.arguments else {}


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an answer came from, so two results can be told apart: the server's kind and version (or build), the
    model id and its quantization, the window it ran with and where that figure came from, the base URL (never with
    credentials), the kit's version and when. What the kit has not learned of the server yet is ``None``."""

    server_kind: str | None
    server_version: str | None
    model: str
    quantization: str | None
    context_window: int | None
    window_source: str
    base_url: str
    kit_version: str
    at: str  # ISO 8601, UTC, to the second

    @property
    def server(self) -> str | None:
        """The server's kind and version in a few words (``llama.cpp b6500``), or ``None`` when unknown."""
        return " ".join(x for x in (self.server_kind, self.server_version) if x) or None

    def as_row(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "model": self.model,
            "quantization": self.quantization,
            "window": self.context_window,
            "window from": self.window_source,
            "base_url": self.base_url,
            "nxs_lab": self.kit_version,
            "at": self.at,
        }

    def same_server(self, other: Provenance) -> bool:
        """Whether two answers came from the same server, model, quantization and window (the time aside)."""
        keys = ("server_kind", "server_version", "model", "quantization", "context_window", "base_url")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The outcome of one chat, completion or response call.

    ``text`` is the answer; a reasoning model's thinking is in ``reasoning`` (from the server's
    ``reasoning_content`` / ``reasoning`` field, or split out of an inline ``<think>`` block).
    ``latency_s`` is from sending the request to the last byte; ``ttft_s`` is
    the time to the first generated token where one was timed (a stream, or a server that reports it, as LM
    Studio's native chat does), ``None`` for an unstreamed call: its whole reply arrives at once.
    """

    text: str
    provider: str
    model: str
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    ttft_s: float | None = None
    endpoint: str = "chat"  # chat | completions | responses
    attempts: tuple[Attempt, ...] = ()  # filled by a FallbackChain: every try, in order
    provenance: Provenance | None = None  # where it came from (the answering provider's server, model, window)
    # From the response cache (nxs_lab.client.cache): latency_s is the lookup's; the original call's latency_s,
    # ttft_s, usage and when it was stored are in cached_from. Never a measurement.
    cached: bool = False
    cached_from: dict[str, Any] | None = None
    prompt_tokens_sent: int | None = None  # what the kit counted as sent, when it counted
    prompt_truncated: bool = False  # the server saw fewer prompt tokens than were sent: it cut the prompt
    prompt_miscounted: bool = False  # the server saw more than the kit's count could be: the counter corrected itself
    dropped_messages: int = 0  # messages left out to fit this provider's window
    reasoning: str = ""  # the model's thinking, apart from the answer
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def cached_tokens(self) -> int | None:
        """Of the prompt's tokens, those the server reused from its cache (``None``: the server does not say)."""
        return self.usage.cached_tokens

    @property
    def server_tokens_per_s(self) -> float | None:
        """Generation speed as the server itself measured it, when its reply says: llama.cpp's
        ``timings.predicted_per_second``, LM Studio's ``stats.tokens_per_second``."""
        extra = getattr(self.raw, "model_extra", None) or {}
        timings, stats = extra.get("timings") or {}, extra.get("stats") or {}
        value = timings.get("predicted_per_second") or stats.get("tokens_per_second")
        return float(value) if isinstance(value, (int, float)) else None

    def trail(self) -> list[str]:
        """Who answered and how, in words: provider, model, seconds, the failovers before it, and whether the
        answer or the prompt was cut (shown under an answer by the command line and the magics)."""
        parts = [self.provider, str(self.model), f"{self.latency_s:.1f} s"]
        failed = [f"{a.provider} {a.outcome.value}" + (f" ({a.error})" if a.error else "") for a in self.attempts
                  if a.outcome is not Outcome.OK]  # fmt: skip
        if failed:
            parts.append("after " + ", ".join(failed))
        if self.usage.cached_tokens is not None and self.usage.prompt_tokens:
            parts.append(f"{self.usage.cached_tokens:,} of {self.usage.prompt_tokens:,} prompt tokens cached")
        if self.truncated:
            parts.append("cut at max_tokens")
        if self.prompt_truncated:
            parts.append("the server cut the prompt")
        if self.prompt_miscounted:
            parts.append(f"the prompt counted {self.prompt_tokens_sent}, the server saw {self.usage.prompt_tokens}")
        if self.demo_model:
            parts.append(DEMO_MODEL_NOTE)
        return parts

    @property
    def demo_model(self) -> bool:
        """Whether the bundled demonstration model (SmolLM2-135M) answered: its answers are often wrong."""
        return DEMO_MODEL_MARK in str(self.model).lower()

    @property
    def truncated(self) -> bool:
        """True when generation stopped at the token limit (the text is cut)."""
        return self.finish_reason == "length"

    def message(self) -> dict[str, Any]:
        """The assistant message to append to a conversation."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            msg["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return msg

    def as_row(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "endpoint": self.endpoint,
            "text": self.text,
            "reasoning": self.reasoning or None,
            "tool_calls": ", ".join(f"{c.name}({c.arguments})" for c in self.tool_calls) or None,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.usage.prompt_tokens,
            "cached_tokens": self.usage.cached_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "reasoning_tokens": self.usage.reasoning_tokens,
            "latency_s": round(self.latency_s, 4),
            "ttft_s": round(self.ttft_s, 4) if self.ttft_s is not None else None,
            "prompt_tokens_sent": self.prompt_tokens_sent,
            "prompt_truncated": self.prompt_truncated,
            "dropped_messages": self.dropped_messages,
        }

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.as_row().items()}
        d["provenance"] = asdict(self.provenance) if self.provenance is not None else None
        d["usage"] = asdict(self.usage)
        d["tool_calls"] = [asdict(c) for c in self.tool_calls]
        d["attempts"] = [a.as_row() for a in self.attempts]
        return d

    def _repr_html_(self) -> str:
        title = "chat result" + ("  ⚠ THE SERVER TRUNCATED THE PROMPT" if self.prompt_truncated else "")
        row = self.as_row()
        if self.demo_model:
            row = {**row, "note": DEMO_MODEL_NOTE}
        html = kv_table(title, row)
        if self.provenance is not None:
            html += kv_table("where it came from", self.provenance.as_row())
        if self.attempts:
            html += attempts_table(self.attempts)
        return html


@dataclass(frozen=True, slots=True)
class Health:
    """Whether an endpoint answers ``/v1/models``, how fast, and with how many models."""

    ok: bool
    provider: str
    base_url: str
    latency_s: float
    models: int = 0
    error: str | None = None

    def _repr_html_(self) -> str:
        return kv_table(f"health of {self.provider}", asdict(self))


class Embeddings(list[list[float]]):
    """The vectors of one ``embed()`` call: a list of vectors, one per text, that also says whether the kit
    made them by mean-pooling the per-token vectors of a server that returned those (``pooled``)."""

    pooled: bool = False

    def __init__(self, vectors: Iterable[list[float]] = (), *, pooled: bool = False) -> None:
        super().__init__(vectors)
        self.pooled = pooled


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    """Vectors from a fallback chain, with who answered. Behaves like the list of vectors."""

    vectors: list[list[float]]
    provider: str
    attempts: tuple[Attempt, ...] = ()

    @property
    def pooled(self) -> bool:
        """Whether the kit mean-pooled per-token vectors into these (see :class:`Embeddings`)."""
        return bool(getattr(self.vectors, "pooled", False))

    def __len__(self) -> int:
        return len(self.vectors)

    def __iter__(self) -> Iterator[list[float]]:
        return iter(self.vectors)

    def __getitem__(self, i: int) -> list[float]:
        return self.vectors[i]

    def _repr_html_(self) -> str:
        dims = len(self.vectors[0]) if self.vectors else 0
        row = {"provider": self.provider, "vectors": len(self.vectors), "dimensions": dims, "pooled": self.pooled}
        return kv_table("embeddings", row) + (attempts_table(self.attempts) if self.attempts else "")
