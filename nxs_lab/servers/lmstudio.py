"""LM Studio (port 1234): the v1 REST API (LM Studio 0.4+) where present, the v0 one before it.

``GET /api/v1/models`` lists ``models`` by ``key`` with ``type`` (``llm`` / ``embedding``), ``capabilities.vision``
(a vision-language model), ``quantization.name``, ``size_bytes``, ``max_context_length`` (what the model could load
with) and ``loaded_instances`` (each with ``config.context_length``: what it runs with). ``GET /api/v0/models`` has
``state``, ``type`` (``llm`` / ``vlm`` / ``embeddings``), ``quantization``, ``max_context_length`` and, loaded, in
newer builds ``loaded_context_length``.

A model that is not loaded is budgeted against the length LM Studio loads it with when a request arrives (its
default, ``LMSTUDIO_LOAD_CTX``, capped at the model's maximum), never against the trained maximum.
"""

from __future__ import annotations

from typing import Any

from ..defaults import LMSTUDIO_LOAD_CTX
from ..models import LoadState, ModelInfo, ModelKind
from .base import NativeHTTP, ServerAdapter

_KIND = {
    "llm": ModelKind.CHAT,
    "vlm": ModelKind.VLM,
    "embeddings": ModelKind.EMBEDDING,
    "embedding": ModelKind.EMBEDDING,
}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _unloaded_window(maximum: int | None) -> tuple[int | None, str]:
    if maximum is None:
        return None, "unknown"
    return min(maximum, LMSTUDIO_LOAD_CTX), "lmstudio default load length"


class LMStudio(ServerAdapter):
    kind = "lmstudio"
    label = "LM Studio"

    def probe(self, http: NativeHTTP) -> tuple[bool, str | None]:
        v1 = self._v1(http)
        if v1 is not None:
            return True, None
        payload = self._try(http.get_json, "/api/v0/models")
        data = payload.get("data") if isinstance(payload, dict) else None
        ok = isinstance(data, list) and all(isinstance(e, dict) and "state" in e for e in data)
        return ok, None

    def _v1(self, http: NativeHTTP) -> list[Any] | None:
        """The v1 model list, or ``None`` where the server has no v1 API (LM Studio before 0.4, or not LM Studio)."""
        payload = self._try(http.get_json, "/api/v1/models")
        models = payload.get("models") if isinstance(payload, dict) else None
        if isinstance(models, list) and all(isinstance(m, dict) and "key" in m for m in models):
            return models
        return None

    def models(self, http: NativeHTTP) -> list[ModelInfo]:
        v1 = self._v1(http)
        if v1 is not None:
            return [self.parse_v1(m) for m in v1]
        return [self.parse(e) for e in http.get_json("/api/v0/models").get("data", [])]

    @staticmethod
    def parse_v1(m: dict[str, Any]) -> ModelInfo:
        caps_in: dict[str, Any] = m["capabilities"] if isinstance(m.get("capabilities"), dict) else {}
        kind = _KIND.get(str(m.get("type")), ModelKind.UNKNOWN)
        if kind is ModelKind.CHAT and caps_in.get("vision"):
            kind = ModelKind.VLM
        instances = [i for i in m.get("loaded_instances") or [] if isinstance(i, dict)]
        maximum = _int(m.get("max_context_length"))
        if instances:
            config: dict[str, Any] = instances[0]["config"] if isinstance(instances[0].get("config"), dict) else {}
            window, source = _int(config.get("context_length")) or maximum, "loaded instance"
        else:
            window, source = _unloaded_window(maximum)
        quant = m.get("quantization")
        caps = {
            name
            for name, on in (("vision", caps_in.get("vision")), ("tool_use", caps_in.get("trained_for_tool_use")))
            if on
        }
        return ModelInfo(
            id=m["key"],
            kind=kind,
            context_window=window,
            quantization=quant.get("name") if isinstance(quant, dict) else None,
            size_bytes=_int(m.get("size_bytes")),
            loaded=LoadState.LOADED if instances else LoadState.NOT_LOADED,
            capabilities=frozenset(caps),
            server_kind="lmstudio",
            owned_by=m.get("publisher"),
            # LM Studio gives any model a default tool format: "not trained for it" is not "cannot"
            tool_calls=True if caps_in.get("trained_for_tool_use") else None,
            extra={
                "api": "v1",
                "max_context_length": maximum,
                "window_source": source,
                "instances": len(instances),
                **{k: m[k] for k in ("architecture", "format", "params_string", "display_name") if k in m},
            },
        )

    @staticmethod
    def parse(e: dict[str, Any]) -> ModelInfo:
        state = e.get("state")
        maximum = _int(e.get("max_context_length"))
        if state == "loaded":
            # newer builds say what a loaded model runs with; older ones only its maximum
            window, source = _int(e.get("loaded_context_length")) or maximum, "loaded"
        else:
            window, source = _unloaded_window(maximum)
        caps = set(e.get("capabilities") or [])
        return ModelInfo(
            id=e["id"],
            kind=_KIND.get(str(e.get("type")), ModelKind.UNKNOWN),
            context_window=window,
            quantization=e.get("quantization"),
            loaded=LoadState.LOADED if state == "loaded" else LoadState.NOT_LOADED if state else LoadState.UNKNOWN,
            capabilities=frozenset(caps),
            server_kind="lmstudio",
            owned_by=e.get("publisher"),
            extra={
                "api": "v0",
                "window_source": source,
                **{k: e[k] for k in ("arch", "compatibility_type", "max_context_length") if k in e},
            },
        )
