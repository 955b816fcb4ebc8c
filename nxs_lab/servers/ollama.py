"""Ollama (port 11434): ``/api/tags`` (quantization, size), ``/api/show`` (window, capabilities), ``/api/ps`` (loaded).

Ollama's ``/v1`` endpoints take no ``num_ctx``: a model runs with the window ``/api/ps``
reports (``context_length``), often far below what it was trained for, and an
over-long prompt is cut silently (a 200, with a low ``usage.prompt_tokens``). The
window reported here is the running one when the model is loaded; otherwise the
``num_ctx`` its Modelfile sets, else Ollama's default (``defaults.OLLAMA_NUM_CTX``),
never the trained length. ``extra`` says which (``window_source``) and keeps the trained one.
"""

from __future__ import annotations

import re
from typing import Any

from ..defaults import OLLAMA_NUM_CTX
from ..models import LoadState, ModelInfo, ModelKind
from .base import NativeHTTP, ServerAdapter

_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)
# A Go template action that closes a branch (``{{ end }}``, ``{{- end -}}``) or only trims whitespace.
_CLOSING_ACTIONS = re.compile(r"\{\{-?\s*(end\s*)?-?\}\}")


class Ollama(ServerAdapter):
    kind = "ollama"
    label = "Ollama"
    cuts_prompts_silently = True
    fingerprint = "fp_ollama"  # the system_fingerprint of its /v1 replies

    def probe(self, http: NativeHTTP) -> tuple[bool, str | None]:
        payload = self._try(http.get_json, "/api/version")
        if isinstance(payload, dict) and isinstance(payload.get("version"), str):
            tags = self._try(http.get_json, "/api/tags")
            return isinstance(tags, dict) and isinstance(tags.get("models"), list), payload["version"]
        return False, None

    def _show(self, http: NativeHTTP, model: str) -> dict[str, Any]:
        shown = self._try(http.post_json, "/api/show", {"model": model})
        return shown if isinstance(shown, dict) else {}

    def opens_thinking(self, http: NativeHTTP, model: str) -> bool | None:
        # A model Ollama knows to think ("thinking" in its capabilities) has its thinking parsed out by the server
        # (the ``reasoning`` field of /v1). Otherwise the Go template of /api/show says whether the generation
        # prompt ends inside an opened block, as an imported Qwen3 or DeepSeek-R1 template does.
        show = self._show(http, model)
        template = show.get("template")
        if not isinstance(template, str):
            return None
        if "thinking" in (show.get("capabilities") or []):
            return False
        return template_opens_thinking(template)

    @staticmethod
    def trained_window(show: dict[str, Any]) -> int | None:
        info = show.get("model_info") or {}
        for key, value in info.items():
            if key.endswith(".context_length") and isinstance(value, int):
                return value
        return None

    @staticmethod
    def modelfile_window(show: dict[str, Any]) -> int | None:
        """The ``num_ctx`` the model's Modelfile sets (``/api/show`` ``parameters``), if any."""
        found = _NUM_CTX.search(str(show.get("parameters") or ""))
        return int(found.group(1)) if found else None

    @classmethod
    def window(cls, show: dict[str, Any], running: dict[str, Any] | None) -> tuple[int, str]:
        """The window the model runs (or will run) with, and where that number came from."""
        if running and isinstance(running.get("context_length"), int) and running["context_length"] > 0:
            return running["context_length"], "running"
        set_by_modelfile = cls.modelfile_window(show)
        if set_by_modelfile is not None:
            return set_by_modelfile, "modelfile num_ctx"
        return OLLAMA_NUM_CTX, "ollama default num_ctx"

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
            window, source = self.window(show, run)
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
                    tool_calls=("tools" in caps) if caps else None,
                    server_kind="ollama",
                    extra={
                        "family": details.get("family"),
                        "parameter_size": details.get("parameter_size"),
                        "trained_context_length": trained,
                        "window_source": source,
                    },
                )
            )
        return out


def template_opens_thinking(template: str) -> bool:
    """Whether a Go chat template's last ``<think>`` is where the prompt ends: only closing actions
    (``{{ end }}``) and whitespace after it, and no ``</think>`` (a block the template opens and closes at once,
    as Qwen3's does when thinking is off, is not an open one)."""
    _, tag, tail = template.rpartition("<think>")
    return bool(tag) and not _CLOSING_ACTIONS.sub("", tail).strip()
