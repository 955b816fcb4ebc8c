"""Any OpenAI-compatible server: all it promises is ``GET /v1/models``."""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidResponse
from ..models import LoadState, ModelInfo, ModelKind

__all__ = ["models_from_openai_list", "quantization_in_name"]

# The quantization a GGUF file's name carries, as llama.cpp's quantize names them (Q4_K_M, Q4_1, IQ4_XS, Q8_0,
# F16, BF16, F32, TQ1_0 …), set off by ".", "-" or "_" from the rest of the name: the last one wins.
_QUANT = re.compile(r"(?i)(?:^|[.\-_/])((?:I|T)?Q\d(?:_[0-9A-Z]+)+|BF16|F16|F32)(?=[.\-]|$)")


def quantization_in_name(name: str | None) -> str | None:
    """The quantization in a model file's name (``…SmolLM2-135M-Instruct.Q4_1.gguf`` → ``Q4_1``), upper case, or
    ``None`` when the name carries none."""
    if not name:
        return None
    found = _QUANT.findall(name.rsplit("/", 1)[-1].removesuffix(".gguf"))
    return found[-1].upper() if found else None


# Servers that extend /v1/models entries put the window under one of these names.
_WINDOW_KEYS = ("max_model_len", "context_length", "max_context_length", "context_window", "n_ctx")


def _window(entry: dict[str, Any]) -> int | None:
    for key in _WINDOW_KEYS:
        value = entry.get(key)
        if isinstance(value, int) and value > 0:
            return value
    meta = entry.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("n_ctx_train"), int):
        return meta["n_ctx_train"]
    return None


def models_from_openai_list(payload: Any, *, server_kind: str = "generic", provider: str = "") -> list[ModelInfo]:
    """Normalize a ``/v1/models`` reply (``{"object": "list", "data": [...]}``) into :class:`ModelInfo`."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise InvalidResponse("/v1/models did not return a list under 'data'", provider=provider)
    out = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise InvalidResponse(f"/v1/models has an entry without an id: {str(entry)[:100]}", provider=provider)
        kind = ModelKind.UNKNOWN
        etype = str(entry.get("type", "")).lower()
        if etype in ("embedding", "embeddings"):
            kind = ModelKind.EMBEDDING
        elif etype == "vlm":
            kind = ModelKind.VLM
        elif etype in ("llm", "chat"):
            kind = ModelKind.CHAT
        out.append(
            ModelInfo(
                id=entry["id"],
                kind=kind,
                context_window=_window(entry),
                quantization=entry.get("quantization") if isinstance(entry.get("quantization"), str) else None,
                loaded=LoadState.UNKNOWN,
                server_kind=server_kind,
                owned_by=entry.get("owned_by") if isinstance(entry.get("owned_by"), str) else None,
                extra={k: v for k, v in entry.items() if k not in ("id", "object", "owned_by", "created")},
            )
        )
    return out
