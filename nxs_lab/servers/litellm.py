"""A LiteLLM proxy (port 4000; what ``nxs-lab gateway`` starts): ``GET /health/liveliness`` answers "I'm alive!"
without a key. Its models are the names in its configuration (``/v1/models``, with the master key); what serves
them is behind it, so it reports no windows of its own beyond ``max_input_tokens`` where configured."""

from __future__ import annotations

from typing import Any

from ..models import ModelInfo
from .base import NativeHTTP, ServerAdapter
from .generic import models_from_openai_list


class LiteLLMProxy(ServerAdapter):
    kind = "litellm"
    label = "LiteLLM proxy"
    lists_models_without_key = False  # without its master key /v1/models answers 500 "Internal Server Error"

    def probe(self, http: NativeHTTP) -> tuple[bool, str | None]:
        alive = self._try(http.get_json, "/health/liveliness")
        return isinstance(alive, str) and alive.strip().lower().startswith("i'm alive"), None

    def models(self, http: NativeHTTP) -> list[ModelInfo]:
        listed: Any = http.get_json("/v1/models")
        found = models_from_openai_list(listed, server_kind=self.kind)
        windows = {e.get("id"): e.get("max_input_tokens") for e in listed.get("data", []) if isinstance(e, dict)}
        return [
            ModelInfo(
                id=m.id, kind=m.kind, context_window=windows.get(m.id) if isinstance(windows.get(m.id), int) else None,
                server_kind=self.kind, owned_by=m.owned_by, extra=m.extra,
            )
            for m in found
        ]  # fmt: skip
