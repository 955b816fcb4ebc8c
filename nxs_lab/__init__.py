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
    "AllProvidersFailed": "errors",
    "Attempt": "results",
    "AuthenticationFailed": "errors",
    "BadRequest": "errors",
    "BreakerState": "breaker",
    "BudgetExceeded": "errors",
    "ChainStream": "fallback",
    "ChatOverhead": "counting",
    "ChatResult": "results",
    "ChatStream": "streaming",
    "CircuitBreaker": "breaker",
    "ConfigError": "errors",
    "ConnectTimeout": "errors",
    "ConnectionFailed": "errors",
    "ContextBudget": "budget",
    "ContextGuard": "guard",
    "ContextOverflow": "errors",
    "CountMethod": "counting",
    "EmbeddingResult": "results",
    "Endpoint": "discovery",
    "Endpoints": "discovery",
    "EstimateCounter": "counting",
    "FallbackChain": "fallback",
    "FitResult": "budget",
    "GGUFCounter": "counting",
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
    "Outcome": "results",
    "Provider": "providers",
    "ProviderConfig": "config",
    "ProviderError": "errors",
    "QuantReport": "quant",
    "QuantVariant": "quant",
    "RateLimited": "errors",
    "Recommendation": "quant",
    "RequestLog": "requestlog",
    "ResponseTimeout": "errors",
    "RetryPolicy": "retry",
    "RunOutcome": "toolloop",
    "ServerCounter": "counting",
    "ServerError": "errors",
    "ServerStartError": "errors",
    "StreamInterrupted": "errors",
    "TiktokenCounter": "counting",
    "Timeouts": "config",
    "TokenBucket": "ratelimit",
    "TokenCount": "counting",
    "TokenCounter": "counting",
    "Tool": "tools",
    "ToolCall": "results",
    "ToolOutcome": "tools",
    "ToolRun": "toolloop",
    "Toolbox": "tools",
    "TraceStep": "toolloop",
    "Transcript": "transcript",
    "UnsupportedEndpoint": "errors",
    "Usage": "results",
    "bundled_model_path": "local",
    "check_truncation": "budget",
    "compare_quantizations": "quant",
    "counter_for": "counting",
    "discover": "discovery",
    "estimate_memory": "quant",
    "quantize": "quant",
    "run_tools": "toolloop",
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
    from .breaker import (
        BreakerState,
        CircuitBreaker,
    )
    from .budget import (
        ContextBudget,
        FitResult,
        check_truncation,
    )
    from .config import (
        LabConfig,
        ProviderConfig,
        Timeouts,
    )
    from .counting import (
        ChatOverhead,
        CountMethod,
        EstimateCounter,
        GGUFCounter,
        ServerCounter,
        TiktokenCounter,
        TokenCount,
        TokenCounter,
        counter_for,
    )
    from .discovery import (
        Endpoint,
        Endpoints,
        discover,
    )
    from .errors import (
        AllProvidersFailed,
        AuthenticationFailed,
        BadRequest,
        BudgetExceeded,
        ConfigError,
        ConnectTimeout,
        ConnectionFailed,
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
        StreamInterrupted,
        UnsupportedEndpoint,
    )
    from .fallback import (
        ChainStream,
        FallbackChain,
    )
    from .guard import (
        ContextGuard,
    )
    from .local import (
        LocalServer,
        bundled_model_path,
    )
    from .models import (
        LoadState,
        ModelInfo,
        ModelKind,
    )
    from .providers import (
        Provider,
    )
    from .quant import (
        QuantReport,
        QuantVariant,
        Recommendation,
        compare_quantizations,
        estimate_memory,
        quantize,
    )
    from .ratelimit import (
        TokenBucket,
    )
    from .requestlog import (
        RequestLog,
    )
    from .results import (
        Attempt,
        ChatResult,
        EmbeddingResult,
        Health,
        Outcome,
        ToolCall,
        Usage,
    )
    from .retry import (
        RetryPolicy,
    )
    from .streaming import (
        ChatStream,
    )
    from .toolloop import (
        RunOutcome,
        ToolRun,
        TraceStep,
        run_tools,
    )
    from .tools import (
        Tool,
        ToolOutcome,
        Toolbox,
    )
    from .transcript import (
        Transcript,
    )
