"""llama-cpp-python, imported where quantization needs it, with an error that names the extra to install."""

from __future__ import annotations

from typing import Any

from ..errors import MissingDependency

__all__ = ["llama_cpp_module"]


def llama_cpp_module() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise MissingDependency("llama-cpp-python", "server") from None
    return llama_cpp
