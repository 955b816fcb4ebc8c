"""llama-cpp-python's server (port 8000): FastAPI, ``/extras/tokenize/count`` counts exactly.

The stock server says nothing about windows; the kit's embedded launcher adds
``/nxs/models`` (window, quantization, loaded), read here when present.
"""

from __future__ import annotations

from ..models import LoadState, ModelInfo, ModelKind
from .base import NativeHTTP, ServerAdapter
from .generic import models_from_openai_list


class LlamaCppPython(ServerAdapter):
    kind = "llama-cpp-python"
    label = "llama-cpp-python server"

    def probe(self, http: NativeHTTP) -> tuple[bool, str | None]:
        spec = self._try(http.get_json, "/openapi.json")
        if isinstance(spec, dict):
            info = spec.get("info") or {}
            if "llama.cpp Python" in str(info.get("title", "")) or "/extras/tokenize/count" in (
                spec.get("paths") or {}
            ):
                return True, info.get("version")
        return False, None

    def models(self, http: NativeHTTP) -> list[ModelInfo]:
        described = self._try(http.get_json, "/nxs/models")
        if isinstance(described, dict) and isinstance(described.get("models"), list):
            return [
                ModelInfo(
                    id=m["id"],
                    kind=ModelKind.EMBEDDING if m.get("kind") == "embedding" else ModelKind.CHAT,
                    context_window=m.get("n_ctx"),
                    quantization=m.get("quantization"),
                    size_bytes=m.get("size_bytes"),
                    loaded=LoadState.LOADED if m.get("loaded") else LoadState.NOT_LOADED,
                    capabilities=frozenset({"tool_use"}) if m.get("kind") == "chat" else frozenset(),
                    server_kind=self.kind,
                    tool_calls=True if m.get("kind") == "chat" else None,
                    extra={"n_ctx_train": m.get("n_ctx_train"), "file": m.get("file")},
                )
                for m in described["models"]
            ]
        return models_from_openai_list(http.get_json("/v1/models"), server_kind=self.kind)

    def count_tokens(self, http: NativeHTTP, model: str, text: str) -> int | None:
        return int(http.post_json("/extras/tokenize/count", {"input": text, "model": model})["count"])
