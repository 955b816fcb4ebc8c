"""llama.cpp's llama-server (port 8080, 9931 in newer builds): ``/props`` has n_ctx; ``/tokenize`` counts exactly."""

from __future__ import annotations

from ..models import LoadState, ModelInfo
from .base import NativeHTTP, ServerAdapter
from .generic import models_from_openai_list


class LlamaCpp(ServerAdapter):
    kind = "llama.cpp"
    label = "llama.cpp server"

    def probe(self, http: NativeHTTP) -> tuple[bool, str | None]:
        props = self._try(http.get_json, "/props")
        if isinstance(props, dict) and isinstance(props.get("default_generation_settings"), dict):
            return True, props.get("build_info")
        return False, None

    def models(self, http: NativeHTTP) -> list[ModelInfo]:
        props = http.get_json("/props")
        n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
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
                    extra={**m.extra, "model_path": props.get("model_path"), "total_slots": props.get("total_slots")},
                )
            )
        return out

    def count_tokens(self, http: NativeHTTP, model: str, text: str) -> int | None:
        reply = http.post_json("/tokenize", {"content": text, "add_special": False})
        return len(reply["tokens"])
