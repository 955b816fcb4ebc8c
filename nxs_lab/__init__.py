"""nxs_lab: a Jupyter-native kit for OpenAI-compatible LLM servers, local and cloud.

    >>> import nxs_lab as nx
    >>> with nx.LocalServer() as srv:                                  # doctest: +SKIP
    ...     p = srv.provider()
    ...     p.chat([{"role": "user", "content": "Say hi"}])

Names are imported on first use, so ``import nxs_lab`` stays fast and does not
pull in the openai SDK until a call needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "AuthenticationFailed": "errors",
    "BadRequest": "errors",
    "ChatResult": "results",
    "ChatStream": "streaming",
    "ConfigError": "errors",
    "ConnectTimeout": "errors",
    "ConnectionFailed": "errors",
    "ContextOverflow": "errors",
    "Health": "results",
    "InvalidResponse": "errors",
    "LabConfig": "config",
    "LoadState": "models",
    "LocalServer": "local",
    "MissingDependency": "errors",
    "ModelInfo": "models",
    "ModelKind": "models",
    "ModelNotAllowed": "errors",
    "ModelNotFound": "errors",
    "NxsLabError": "errors",
    "Provider": "providers",
    "ProviderConfig": "config",
    "ProviderError": "errors",
    "RateLimited": "errors",
    "ResponseTimeout": "errors",
    "ServerError": "errors",
    "ServerStartError": "errors",
    "Timeouts": "config",
    "ToolCall": "results",
    "UnsupportedEndpoint": "errors",
    "Usage": "results",
    "bundled_model_path": "local",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nxs_lab' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from .config import LabConfig, ProviderConfig, Timeouts
    from .errors import (
        AuthenticationFailed,
        BadRequest,
        ConfigError,
        ConnectionFailed,
        ConnectTimeout,
        ContextOverflow,
        InvalidResponse,
        MissingDependency,
        ModelNotAllowed,
        ModelNotFound,
        NxsLabError,
        ProviderError,
        RateLimited,
        ResponseTimeout,
        ServerError,
        ServerStartError,
        UnsupportedEndpoint,
    )
    from .local import LocalServer, bundled_model_path
    from .models import LoadState, ModelInfo, ModelKind
    from .providers import Provider
    from .results import ChatResult, Health, ToolCall, Usage
    from .streaming import ChatStream
