"""ModelInfo: what a server says about one model, normalized across server kinds."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from ._html import kv_table

__all__ = ["LoadState", "ModelInfo", "ModelKind", "guess_kind"]


class ModelKind(str, enum.Enum):
    """What a model is for."""

    CHAT = "chat"
    EMBEDDING = "embedding"
    VLM = "vlm"
    UNKNOWN = "unknown"


class LoadState(str, enum.Enum):
    """Whether the server has the model in memory now."""

    LOADED = "loaded"
    NOT_LOADED = "not-loaded"
    UNKNOWN = "unknown"


_EMBED_PATTERN = re.compile(r"(embed|bge-|(^|[-_/])e5[-_]|gte-|minilm|mxbai|arctic-embed)", re.IGNORECASE)


def guess_kind(model_id: str) -> ModelKind:
    """A model's kind from its name alone, for servers whose ``/v1/models`` says nothing more."""
    if _EMBED_PATTERN.search(model_id):
        return ModelKind.EMBEDDING
    if re.search(r"(vision|-vl\b|-vl-|llava|vlm)", model_id, re.IGNORECASE):
        return ModelKind.VLM
    return ModelKind.CHAT


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model as a server describes it.

    Fields the server does not report are ``None`` (numbers) or ``UNKNOWN`` (enums).

    >>> ModelInfo(id="qwen2.5-7b-instruct", context_window=32768).kind
    <ModelKind.CHAT: 'chat'>
    """

    id: str
    kind: ModelKind = ModelKind.UNKNOWN
    context_window: int | None = None
    quantization: str | None = None
    size_bytes: int | None = None
    loaded: LoadState = LoadState.UNKNOWN
    capabilities: frozenset[str] = frozenset()
    server_kind: str = "generic"
    owned_by: str | None = None
    tool_calls: bool | None = None  # whether the server says this model can call tools (None: it does not say)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.kind is ModelKind.UNKNOWN:
            object.__setattr__(self, "kind", guess_kind(self.id))

    def as_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "context_window": self.context_window,
            "quantization": self.quantization,
            "size_mb": round(self.size_bytes / 1e6, 1) if self.size_bytes else None,
            "loaded": self.loaded.value,
            "capabilities": ", ".join(sorted(self.capabilities)),
            "tool_calls": self.tool_calls,
            "server_kind": self.server_kind,
        }

    def _repr_html_(self) -> str:
        return kv_table(f"model {self.id}", self.as_row())
