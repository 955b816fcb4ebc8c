"""The public API is a sorted __all__, pinned here; importing the package stays light."""

from __future__ import annotations

import subprocess
import sys

import nxs_lab as nx

EXPECTED = [
    "AllProvidersFailed",
    "AsyncContextGuard",
    "AsyncProvider",
    "Attempt",
    "AuthenticationFailed",
    "BadRequest",
    "BreakerState",
    "BudgetExceeded",
    "ChainStream",
    "ChatOverhead",
    "ChatResult",
    "ChatStream",
    "CircuitBreaker",
    "ClientBusy",
    "ConfigError",
    "ConnectTimeout",
    "ConnectionFailed",
    "ContextBudget",
    "ContextGuard",
    "ContextOverflow",
    "CountMethod",
    "Delta",
    "Doctor",
    "EmbeddingResult",
    "Embeddings",
    "Endpoint",
    "Endpoints",
    "EstimateCounter",
    "Evaluation",
    "FallbackChain",
    "FitResult",
    "GGUFCounter",
    "Health",
    "InvalidResponse",
    "LabConfig",
    "LoadState",
    "LocalServer",
    "MissingDependency",
    "ModelCatalog",
    "ModelFits",
    "ModelInfo",
    "ModelKind",
    "ModelNotAllowed",
    "ModelNotFound",
    "ModelShape",
    "NoServer",
    "NxsLabError",
    "Outcome",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "QuantReport",
    "QuantVariant",
    "QuantizeError",
    "RateLimited",
    "Recommendation",
    "RequestLog",
    "RequestRefused",
    "ResponseTimeout",
    "ResponseTooLarge",
    "RetryPolicy",
    "RunOutcome",
    "RunbookFailed",
    "ScanRefused",
    "ServerCounter",
    "ServerError",
    "ServerStartError",
    "StreamInterrupted",
    "TiktokenCounter",
    "Timeouts",
    "TokenBucket",
    "TokenCount",
    "TokenCounter",
    "Tool",
    "ToolCall",
    "ToolOutcome",
    "ToolRun",
    "ToolServerError",
    "Toolbox",
    "TraceStep",
    "Transcript",
    "UnsupportedEndpoint",
    "Usage",
    "bundled_model_path",
    "check_truncation",
    "compare_quantizations",
    "counter_for",
    "discover",
    "doctor",
    "estimate_memory",
    "evaluate",
    "published_shapes",
    "quantize",
    "recommend_models",
    "run_tools",
]


def test_all_is_sorted_and_pinned() -> None:
    assert nx.__all__ == sorted(nx.__all__)
    assert nx.__all__ == EXPECTED


def test_every_public_name_resolves() -> None:
    for name in nx.__all__:
        assert getattr(nx, name) is not None, name
    assert set(nx.__all__) <= set(dir(nx))


def test_import_is_light_and_ui_free() -> None:
    code = (
        "import sys, nxs_lab; "
        "heavy = [m for m in ('openai', 'ipywidgets', 'IPython', 'pandas', 'llama_cpp', 'papermill') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_core_never_imports_ui_packages() -> None:
    import pathlib
    import re

    root = pathlib.Path(nx.__file__).parent
    pattern = re.compile(r"^\s*(import|from)\s+(ipywidgets|IPython|ipykernel)\b", re.MULTILINE)
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "ui" not in p.relative_to(root).parts[:1] and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
