"""llama.cpp's llama-server (port 8080, 9931 in newer builds): ``/props`` has n_ctx; ``/tokenize`` counts exactly,
and ``/apply-template`` lays a chat out with the model's own template, so whole chats are counted exactly too."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from ..models import LoadState, ModelInfo
from .base import NativeHTTP, ServerAdapter
from .generic import models_from_openai_list, quantization_in_name


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
        if props.get("role") == "router":
            return self._router_models(http)
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
                    quantization=quantization_in_name(m.id) or quantization_in_name(props.get("model_path")),
                    loaded=LoadState.LOADED,
                    server_kind=self.kind,
                    owned_by=m.owned_by,
                    tool_calls=tools if isinstance(tools, bool) else None,
                    extra={**m.extra, "model_path": props.get("model_path"), "total_slots": props.get("total_slots")},
                )
            )
        return out

    def _router_models(self, http: NativeHTTP) -> list[ModelInfo]:
        """Router mode (``--models-dir`` / ``--models-preset``): one server, several models, each with its own load
        state and window: the window it is started with (``--ctx-size`` in its arguments or preset), or once it is
        loaded, what its own ``/props`` says."""
        listed = http.get_json("/v1/models")
        raw = (
            {e.get("id"): e for e in listed.get("data") or () if isinstance(e, dict)}
            if isinstance(listed, dict)
            else {}
        )
        out = []
        for m in models_from_openai_list(listed, server_kind=self.kind):
            status = raw.get(m.id, {}).get("status")
            status = status if isinstance(status, dict) else {}
            state = {"loaded": LoadState.LOADED, "unloaded": LoadState.NOT_LOADED}.get(
                str(status.get("value")), LoadState.UNKNOWN
            )
            window = _started_window(status)
            if state is LoadState.LOADED:
                own = self._try(http.get_json, f"/props?model={quote(m.id, safe='')}")
                n_ctx = (own.get("default_generation_settings") or {}).get("n_ctx") if isinstance(own, dict) else None
                window = n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else window
            out.append(ModelInfo(id=m.id, kind=m.kind, context_window=window, loaded=state, server_kind=self.kind,
                                 quantization=quantization_in_name(m.id),
                                 owned_by=m.owned_by, extra={**m.extra, "router": True}))  # fmt: skip
        return out

    def count_tokens(self, http: NativeHTTP, model: str, text: str) -> int | None:
        # "model" picks the instance in router mode; a single-model server ignores it
        reply = http.post_json("/tokenize", {"content": text, "add_special": False, "model": model})
        return len(reply["tokens"])

    def opens_thinking(self, http: NativeHTTP, model: str) -> bool | None:
        # The template's own generation prompt, laid out by the server for a one-line chat: Qwen3's and
        # DeepSeek-R1's end in "<think>\n", so the model's reply starts inside the block.
        hello = {"messages": [{"role": "user", "content": "hi"}], "model": model}
        applied = self._try(http.post_json, "/apply-template", hello)
        if not isinstance(applied, dict) or not isinstance(applied.get("prompt"), str):
            return None
        return applied["prompt"].rstrip().endswith("<think>")

    def count_chat(
        self, http: NativeHTTP, model: str, messages: list[Any], tools: Mapping[str, Any] | None = None
    ) -> int | None:
        # The server tokenizes a chat's prompt with special tokens added and parsed; /tokenize does the same here.
        # /apply-template reads a request as /v1/chat/completions does, tools and tool_choice included.
        applied = self._try(http.post_json, "/apply-template", {"messages": messages, **(tools or {}), "model": model})
        if not isinstance(applied, dict) or not isinstance(applied.get("prompt"), str):
            return None  # a build without /apply-template (or, with tools, one started without --jinja)
        payload = {"content": applied["prompt"], "add_special": True, "model": model}
        return len(http.post_json("/tokenize", payload)["tokens"])


def _started_window(status: Mapping[str, Any]) -> int | None:
    """The ``--ctx-size`` (``-c``) a router starts a model with, from its arguments or its preset."""
    args = status.get("args")
    if isinstance(args, list):
        for flag, value in itertools.pairwise(args):
            if flag in ("--ctx-size", "-c") and str(value).isdigit() and int(value) > 0:
                return int(value)
    preset = status.get("preset")
    if isinstance(preset, str):
        for line in preset.splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("ctx-size", "c") and value.strip().isdigit() and int(value.strip()) > 0:
                return int(value.strip())
    return None
