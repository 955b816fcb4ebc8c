"""llama.cpp's llama-server (port 8080, 9931 in newer builds): ``/props`` has n_ctx; ``/tokenize`` counts exactly,
and ``/apply-template`` lays a chat out with the model's own template, so whole chats are counted exactly too."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..models import LoadState, ModelInfo
from .base import NativeHTTP, ServerAdapter
from .generic import models_from_openai_list


class LlamaCpp(ServerAdapter):
    kind = "llama.cpp"
    label = "llama.cpp server"
    # The prompt cache is on by default, but said explicitly: a server started otherwise, or an older build, keeps
    # the prefix a long chat reuses turn after turn.
    request_extras = MappingProxyType({"cache_prompt": True})

    def probe(self, http: NativeHTTP) -> tuple[bool, str | None]:
        props = self._try(http.get_json, "/props")
        if isinstance(props, dict) and isinstance(props.get("default_generation_settings"), dict):
            return True, props.get("build_info")
        return False, None

    def models(self, http: NativeHTTP) -> list[ModelInfo]:
        props = http.get_json("/props")
        n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
        caps = props.get("chat_template_caps")
        tools = caps.get("supports_tool_calls") if isinstance(caps, dict) else None
        out = []
        for m in models_from_openai_list(http.get_json("/v1/models"), server_kind=self.kind):
            out.append(
                ModelInfo(
                    id=m.id,
                    kind=m.kind,
                    context_window=n_ctx if isinstance(n_ctx, int) else m.context_window,
                    loaded=LoadState.LOADED,
                    server_kind=self.kind,
                    owned_by=m.owned_by,
                    tool_calls=tools if isinstance(tools, bool) else None,
                    extra={**m.extra, "model_path": props.get("model_path"), "total_slots": props.get("total_slots")},
                )
            )
        return out

    def count_tokens(self, http: NativeHTTP, model: str, text: str) -> int | None:
        reply = http.post_json("/tokenize", {"content": text, "add_special": False})
        return len(reply["tokens"])

    def opens_thinking(self, http: NativeHTTP, model: str) -> bool | None:
        # The template's own generation prompt, laid out by the server for a one-line chat: Qwen3's and
        # DeepSeek-R1's end in "<think>\n", so the model's reply starts inside the block.
        applied = self._try(http.post_json, "/apply-template", {"messages": [{"role": "user", "content": "hi"}]})
        if not isinstance(applied, dict) or not isinstance(applied.get("prompt"), str):
            return None
        return applied["prompt"].rstrip().endswith("<think>")

    def count_chat(
        self, http: NativeHTTP, model: str, messages: list[Any], tools: Mapping[str, Any] | None = None
    ) -> int | None:
        # The server tokenizes a chat's prompt with special tokens added and parsed; /tokenize does the same here.
        # /apply-template reads a request as /v1/chat/completions does, tools and tool_choice included.
        applied = self._try(http.post_json, "/apply-template", {"messages": messages, **(tools or {})})
        if not isinstance(applied, dict) or not isinstance(applied.get("prompt"), str):
            return None  # a build without /apply-template (or, with tools, one started without --jinja)
        return len(http.post_json("/tokenize", {"content": applied["prompt"], "add_special": True})["tokens"])
