"""A structured request log: one JSON object per attempt, crash-safe (see :mod:`nxs_lab._jsonl`).

Message content is left out unless asked for. A line that cannot be written (a full disk, a closed log) never
fails the call it describes: it is counted in ``dropped`` and reported with a ``RuntimeWarning``.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import time
import warnings
from typing import Any

from .._jsonl import JsonlAppender, read_jsonl
from ..config import LabConfig
from ..userconfig import request_log_path

__all__ = ["RequestLog", "default_request_log", "redact_secrets", "request_log_path"]


def default_request_log(config: LabConfig | None = None) -> RequestLog:
    """The request log in its usual place (see :func:`request_log_path`), keeping content when ``[log] content``
    says so (``config``; default: the environment's ``NXS_LAB__LOG__CONTENT``)."""
    cfg = config if config is not None else LabConfig.load(None)
    return RequestLog(request_log_path(cfg), include_content=cfg.log.content)


# What must never be kept even in a log with content: keys, bearer tokens, passwords written into a message.
_SECRETS = re.compile(
    r"(sk-[A-Za-z0-9_-]{12,}|Bearer\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|(?i:(?:api[_-]?key|secret|password|passwd|token)\s*[:=]\s*)[^\s,;\"']+)"
)


def redact_secrets(text: str) -> str:
    """``text`` with what looks like a key, a bearer token or a ``password=…`` replaced by ``[redacted]``."""
    return _SECRETS.sub("[redacted]", text)


def _redacted(content: Any) -> Any:
    if isinstance(content, str):
        return redact_secrets(content)
    if isinstance(content, dict):
        return {k: _redacted(v) for k, v in content.items()}
    return content


class RequestLog:
    """Append-only JSONL log of attempts.

    >>> log = RequestLog("runs/requests.jsonl")          # doctest: +SKIP
    >>> chain = FallbackChain([...], log=log)            # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str], *, include_content: bool = False, fsync: bool = False) -> None:
        self._out = JsonlAppender(path, fsync=fsync)
        self.path = self._out.path
        self.include_content = include_content
        self.dropped = 0  # lines that could not be written

    def record(self, event: dict[str, Any], *, content: Any = None) -> None:
        """Append one line. Never raises: a line that cannot be written is counted and warned about."""
        line = {"time": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"), **event}
        if self.include_content and content is not None:
            line["content"] = _redacted(content)
        try:
            self._out.append(line)
        except (OSError, ValueError) as exc:
            self.dropped += 1
            warnings.warn(f"request log {self.path}: a line was not written ({exc})", RuntimeWarning, stacklevel=2)

    def call(
        self,
        op: str,
        provider: str,
        t0: float,
        result: Any = None,
        exc: BaseException | None = None,
        *,
        stopped: bool = False,
        model: str | None = None,
    ) -> None:
        """One line for one call to a single provider begun at ``t0`` (``time.perf_counter()``), as a chain writes
        one per attempt: its outcome (ok, failed, stopped), the error's kind and status, time, model and tokens."""
        usage = getattr(result, "usage", None)
        self.record(
            {
                "op": op,
                "provider": provider,
                "outcome": "stopped" if stopped else "failed" if exc is not None else "ok",
                "error": type(exc).__name__ if exc is not None else None,
                "status": getattr(exc, "status", None),
                "elapsed_ms": round((time.perf_counter() - t0) * 1000, 2),
                "model": getattr(result, "model", None) or model,
                "prompt_tokens": getattr(usage, "prompt_tokens", None),
                "cached_tokens": getattr(usage, "cached_tokens", None),
                "completion_tokens": getattr(usage, "completion_tokens", None),
            },
            content=getattr(result, "text", None),
        )

    def read(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path)

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> RequestLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
