"""vLLM (port 8000): ``/v1/models`` entries carry ``max_model_len``; ``/tokenize`` counts text exactly, and whole
chats through the model's template when given ``messages`` (vLLM's documented tokenize request for chats)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import LoadState, ModelInfo
from .base import NativeHTTP, ServerAdapter
from .generic import models_from_openai_list


class VLLM(ServerAdapter):
    kind = "vllm"
    label = "vLLM"

    def probe(self, http: NativeHTTP) -> tuple[bool, str | None]:
        listed = self._try(http.get_json, "/v1/models")
        data = listed.get("data") if isinstance(listed, dict) else None
        if isinstance(data, list) and data and all(isinstance(e, dict) and "max_model_len" in e for e in data):
            version = self._try(http.get_json, "/version")
            return True, version.get("version") if isinstance(version, dict) else None
        return False, None

    def models(self, http: NativeHTTP) -> list[ModelInfo]:
        return [
            ModelInfo(
                id=m.id,
                kind=m.kind,
                context_window=m.context_window,
                loaded=LoadState.LOADED,
                server_kind=self.kind,
                owned_by=m.owned_by,
                extra=m.extra,
            )
            for m in models_from_openai_list(http.get_json("/v1/models"), server_kind=self.kind)
        ]

    def count_tokens(self, http: NativeHTTP, model: str, text: str) -> int | None:
        reply = http.post_json("/tokenize", {"model": model, "prompt": text, "add_special_tokens": False})
        return int(reply["count"]) if "count" in reply else len(reply["tokens"])

    def count_chat(
        self, http: NativeHTTP, model: str, messages: list[Any], tools: Mapping[str, Any] | None = None
    ) -> int | None:
        body = {"model": model, "messages": messages, "add_generation_prompt": True, **(tools or {})}
        body.pop("tool_choice", None)  # vLLM's /tokenize renders the template with tools; it takes no tool_choice
        reply = self._try(http.post_json, "/tokenize", body)
        if not isinstance(reply, dict):
            return None
        return int(reply["count"]) if "count" in reply else len(reply["tokens"])
