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

from .logs import configure_from_env as _configure_logs

_configure_logs()

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "AllProvidersFailed": "errors",
    "AsyncContextGuard": "context.guard",
    "AsyncProvider": "client.async_provider",
    "Attempt": "results",
    "AuthenticationFailed": "errors",
    "BadRequest": "errors",
    "BreakerState": "resilience.breaker",
    "BudgetExceeded": "errors",
    "ClientBusy": "errors",
    "ChainStream": "resilience.chainstream",
    "ChatOverhead": "tokens.count",
    "ChatResult": "results",
    "ChatStream": "client.streaming",
    "CircuitBreaker": "resilience.breaker",
    "ConfigError": "errors",
    "NoServer": "errors",
    "ConnectTimeout": "errors",
    "ConnectionFailed": "errors",
    "ContextBudget": "context.budget",
    "ContextGuard": "context.guard",
    "ContextOverflow": "errors",
    "CountMethod": "tokens.count",
    "Delta": "client.reasoning",
    "EmbeddingResult": "results",
    "Evaluation": "evaluation.report",
    "Embeddings": "results",
    "Endpoint": "discovery.endpoints",
    "Doctor": "discovery.doctor",
    "Endpoints": "discovery.endpoints",
    "EstimateCounter": "tokens.counters",
    "FallbackChain": "resilience.fallback",
    "FitResult": "context.budget",
    "GGUFCounter": "tokens.counters",
    "Health": "results",
    "InvalidResponse": "errors",
    "LabConfig": "config",
    "LoadState": "models",
    "LocalServer": "local",
    "MissingDependency": "errors",
    "ModelCatalog": "client.catalog",
    "ModelFits": "quant.fit",
    "ModelShape": "quant.shapes",
    "ModelInfo": "models",
    "ModelKind": "models",
    "ModelNotAllowed": "errors",
    "ModelNotFound": "errors",
    "NxsLabError": "errors",
    "Outcome": "results",
    "Provider": "client.provider",
    "ProviderConfig": "config",
    "ProviderError": "errors",
    "QuantReport": "quant.quant_report",
    "QuantVariant": "quant.make",
    "QuantizeError": "errors",
    "RateLimited": "errors",
    "Recommendation": "quant.memory",
    "RequestLog": "resilience.requestlog",
    "RequestRefused": "errors",
    "ResponseTimeout": "errors",
    "ResponseTooLarge": "errors",
    "RetryPolicy": "resilience.retry",
    "RunOutcome": "tools.loop",
    "RunbookFailed": "errors",
    "ScanRefused": "errors",
    "ServerCounter": "context.counting",
    "ServerError": "errors",
    "ServerStartError": "errors",
    "StreamInterrupted": "errors",
    "TiktokenCounter": "tokens.counters",
    "Timeouts": "config",
    "TokenBucket": "resilience.ratelimit",
    "TokenCount": "tokens.count",
    "TokenCounter": "tokens.count",
    "Tool": "tools.toolbox",
    "ToolCall": "results",
    "ToolOutcome": "tools.toolbox",
    "ToolRun": "tools.loop",
    "ToolServerError": "errors",
    "Toolbox": "tools.toolbox",
    "TraceStep": "tools.loop",
    "Transcript": "tools.transcript",
    "UnsupportedEndpoint": "errors",
    "Usage": "results",
    "bundled_model_path": "local",
    "check_truncation": "tokens.truncation",
    "compare_quantizations": "quant.measure",
    "counter_for": "context.counting",
    "discover": "discovery.scan",
    "doctor": "discovery.doctor",
    "estimate_memory": "quant.memory",
    "evaluate": "evaluation.run",
    "published_shapes": "quant.shapes",
    "quantize": "quant.make",
    "recommend_models": "quant.fit",
    "run_tools": "tools.loop",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nxs_lab' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nxs_lab``: the ``%%chat`` and ``%nxs`` magics (they live in ``nxs_lab.ui.magics``; the core
    itself never imports IPython)."""
    from .ui.magics import load_ipython_extension as load

    load(ipython)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from .client.async_provider import (
        AsyncProvider,
    )
    from .client.catalog import (
        ModelCatalog,
    )
    from .client.provider import (
        Provider,
    )
    from .client.reasoning import (
        Delta,
    )
    from .client.streaming import (
        ChatStream,
    )
    from .config import (
        LabConfig,
        ProviderConfig,
        Timeouts,
    )
    from .context.budget import (
        ContextBudget,
        FitResult,
    )
    from .context.counting import (
        ServerCounter,
        counter_for,
    )
    from .context.guard import (
        AsyncContextGuard,
        ContextGuard,
    )
    from .discovery.doctor import (
        Doctor,
        doctor,
    )
    from .discovery.endpoints import (
        Endpoint,
        Endpoints,
    )
    from .discovery.scan import (
        discover,
    )
    from .errors import (
        AllProvidersFailed,
        AuthenticationFailed,
        BadRequest,
        BudgetExceeded,
        ClientBusy,
        ConfigError,
        ConnectionFailed,
        ConnectTimeout,
        ContextOverflow,
        InvalidResponse,
        MissingDependency,
        ModelNotAllowed,
        ModelNotFound,
        NoServer,
        NxsLabError,
        ProviderError,
        QuantizeError,
        RateLimited,
        RequestRefused,
        ResponseTimeout,
        ResponseTooLarge,
        RunbookFailed,
        ScanRefused,
        ServerError,
        ServerStartError,
        StreamInterrupted,
        ToolServerError,
        UnsupportedEndpoint,
    )
    from .evaluation.report import (
        Evaluation,
    )
    from .evaluation.run import (
        evaluate,
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
    from .quant.fit import (
        ModelFits,
        recommend_models,
    )
    from .quant.make import (
        QuantVariant,
        quantize,
    )
    from .quant.measure import (
        compare_quantizations,
    )
    from .quant.memory import (
        Recommendation,
        estimate_memory,
    )
    from .quant.quant_report import (
        QuantReport,
    )
    from .quant.shapes import (
        ModelShape,
        published_shapes,
    )
    from .resilience.breaker import (
        BreakerState,
        CircuitBreaker,
    )
    from .resilience.chainstream import (
        ChainStream,
    )
    from .resilience.fallback import (
        FallbackChain,
    )
    from .resilience.ratelimit import (
        TokenBucket,
    )
    from .resilience.requestlog import (
        RequestLog,
    )
    from .resilience.retry import (
        RetryPolicy,
    )
    from .results import (
        Attempt,
        ChatResult,
        EmbeddingResult,
        Embeddings,
        Health,
        Outcome,
        ToolCall,
        Usage,
    )
    from .tokens.count import (
        ChatOverhead,
        CountMethod,
        TokenCount,
        TokenCounter,
    )
    from .tokens.counters import (
        EstimateCounter,
        GGUFCounter,
        TiktokenCounter,
    )
    from .tokens.truncation import (
        check_truncation,
    )
    from .tools.loop import (
        RunOutcome,
        ToolRun,
        TraceStep,
        run_tools,
    )
    from .tools.toolbox import (
        Tool,
        Toolbox,
        ToolOutcome,
    )
    from .tools.transcript import (
        Transcript,
    )
