"""Ollama (port 11434): ``/api/tags`` (quantization, size), ``/api/show`` (window, capabilities), ``/api/ps`` (loaded).

Ollama's ``/v1`` endpoints ignore ``num_ctx``: a model runs with the window ``/api/ps``
reports (``context_length``), often far below what it was trained for, and an
over-long prompt is cut silently. The window reported here is the running one
when the model is loaded, else the trained one, and says which in ``extra``.
"""

from __future__ import annotations

from typing import Any

from ..models import LoadState, ModelInfo, ModelKind
from .base import NativeHTTP, ServerAdapter


class Ollama(ServerAdapter):
    kind = "ollama"
    label = "Ollama"

    def probe(self, http: NativeHTTP) -> tuple[bool, str | None]:
        payload = self._try(http.get_json, "/api/version")
        if isinstance(payload, dict) and isinstance(payload.get("version"), str):
            tags = self._try(http.get_json, "/api/tags")
            return isinstance(tags, dict) and isinstance(tags.get("models"), list), payload["version"]
        return False, None

    def _show(self, http: NativeHTTP, model: str) -> dict[str, Any]:
        shown = self._try(http.post_json, "/api/show", {"model": model})
        return shown if isinstance(shown, dict) else {}

    @staticmethod
    def trained_window(show: dict[str, Any]) -> int | None:
        info = show.get("model_info") or {}
        for key, value in info.items():
            if key.endswith(".context_length") and isinstance(value, int):
                return value
        return None

    def models(self, http: NativeHTTP) -> list[ModelInfo]:
        tags = http.get_json("/api/tags").get("models", [])
        running = {
            m.get("name") or m.get("model"): m for m in (self._try(http.get_json, "/api/ps") or {}).get("models", [])
        }
        out = []
        for t in tags:
            name = t.get("name") or t.get("model")
            show = self._show(http, name)
            details = t.get("details") or {}
            caps = frozenset(show.get("capabilities") or [])
            run = running.get(name)
            trained = self.trained_window(show)
            window = run.get("context_length") if run and isinstance(run.get("context_length"), int) else trained
            kind = (
                ModelKind.EMBEDDING
                if "embedding" in caps
                else ModelKind.VLM
                if "vision" in caps
                else (ModelKind.CHAT if caps else ModelKind.UNKNOWN)
            )
            out.append(
                ModelInfo(
                    id=name,
                    kind=kind,
                    context_window=window,
                    quantization=details.get("quantization_level"),
                    size_bytes=t.get("size"),
                    loaded=LoadState.LOADED if run else LoadState.NOT_LOADED,
                    capabilities=caps,
                    server_kind="ollama",
                    extra={
                        "family": details.get("family"),
                        "parameter_size": details.get("parameter_size"),
                        "trained_context_length": trained,
                        "window_source": "running" if run else "trained",
                    },
                )
            )
        return out
