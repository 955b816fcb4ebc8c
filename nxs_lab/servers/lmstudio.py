"""LM Studio (port 1234): ``GET /api/v0/models`` has state, quantization, type, arch and max_context_length."""

from __future__ import annotations

from typing import Any

from ..models import LoadState, ModelInfo, ModelKind
from .base import NativeHTTP, ServerAdapter

_KIND = {
    "llm": ModelKind.CHAT,
    "vlm": ModelKind.VLM,
    "embeddings": ModelKind.EMBEDDING,
    "embedding": ModelKind.EMBEDDING,
}


class LMStudio(ServerAdapter):
    kind = "lmstudio"
    label = "LM Studio"

    def probe(self, http: NativeHTTP) -> tuple[bool, str | None]:
        payload = self._try(http.get_json, "/api/v0/models")
        data = payload.get("data") if isinstance(payload, dict) else None
        ok = isinstance(data, list) and all(isinstance(e, dict) and "state" in e for e in data)
        return ok, None

    def models(self, http: NativeHTTP) -> list[ModelInfo]:
        return [self.parse(e) for e in http.get_json("/api/v0/models").get("data", [])]

    @staticmethod
    def parse(e: dict[str, Any]) -> ModelInfo:
        state = e.get("state")
        # A loaded model runs with loaded_context_length (newer builds); max is what it could load with.
        window = e.get("loaded_context_length") or e.get("max_context_length")
        caps = set(e.get("capabilities") or [])
        return ModelInfo(
            id=e["id"],
            kind=_KIND.get(str(e.get("type")), ModelKind.UNKNOWN),
            context_window=window if isinstance(window, int) else None,
            quantization=e.get("quantization"),
            loaded=LoadState.LOADED if state == "loaded" else LoadState.NOT_LOADED if state else LoadState.UNKNOWN,
            capabilities=frozenset(caps),
            server_kind="lmstudio",
            owned_by=e.get("publisher"),
            extra={k: e[k] for k in ("arch", "compatibility_type", "max_context_length") if k in e},
        )
