"""The embedded default server: llama-cpp-python's OpenAI-compatible server with the bundled model."""

from .bundled import BUNDLED_CHAT_ALIAS, BUNDLED_EMBED_ALIAS, bundled_model_path
from .server import LocalServer, ModelSpec

__all__ = ["BUNDLED_CHAT_ALIAS", "BUNDLED_EMBED_ALIAS", "LocalServer", "ModelSpec", "bundled_model_path"]
