"""One adapter module per server kind: how to recognise it and read its native model metadata.

==================  ===========  ===================================================
kind                port         what tells it
==================  ===========  ===================================================
LM Studio           1234         ``GET /api/v0/models`` (state, quantization, window)
Ollama              11434        ``GET /api/version`` + ``/api/tags``
llama.cpp           8080, 9931   ``GET /props``
llama-cpp-python    8000         ``GET /openapi.json`` (its FastAPI title)
vLLM                8000         ``/v1/models`` entries with ``max_model_len``
LiteLLM proxy       4000         ``GET /health/liveliness`` ("I'm alive!")
generic / cloud     —            only ``/v1/models``
==================  ===========  ===================================================
"""

from __future__ import annotations

from .base import NativeHTTP, ServerAdapter
from .generic import models_from_openai_list
from .litellm import LiteLLMProxy
from .llama_cpp_python import LlamaCppPython
from .llamacpp import LlamaCpp
from .lmstudio import LMStudio
from .ollama import Ollama
from .vllm import VLLM

__all__ = ["ADAPTERS", "GENERIC", "NativeHTTP", "ServerAdapter", "identify", "models_from_openai_list"]

GENERIC = ServerAdapter()
# Most specific first: each probe is one cheap GET (two for Ollama and vLLM); LiteLLM before llama-cpp-python, whose
# probe reads /openapi.json (LiteLLM's is 2 MB).
ADAPTERS: tuple[ServerAdapter, ...] = (LMStudio(), Ollama(), LlamaCpp(), LiteLLMProxy(), LlamaCppPython(), VLLM())


def identify(http: NativeHTTP) -> tuple[ServerAdapter, str | None]:
    """The adapter for the server behind ``http`` and its version (generic when none matches)."""
    for adapter in ADAPTERS:
        ok, version = adapter.probe(http)
        if ok:
            return adapter, version
    return GENERIC, None
