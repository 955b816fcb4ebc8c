"""One adapter module per server kind: how to recognise it and read its native model metadata.

The foundation ships the generic OpenAI-compatible reading of ``/v1/models``;
kind-specific adapters (LM Studio, Ollama, llama.cpp, llama-cpp-python, vLLM)
add what each server's native endpoints say.
"""

from .generic import models_from_openai_list

__all__ = ["models_from_openai_list"]
