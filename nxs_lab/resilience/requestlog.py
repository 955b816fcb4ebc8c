"""A structured request log: one JSON object per attempt, crash-safe (see :mod:`nxs_lab._jsonl`).

Message content is left out unless asked for.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

from .._jsonl import JsonlAppender, read_jsonl

__all__ = ["RequestLog"]


class RequestLog:
    """Append-only JSONL log of attempts.

    >>> log = RequestLog("runs/requests.jsonl")          # doctest: +SKIP
    >>> chain = FallbackChain([...], log=log)            # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str], *, include_content: bool = False) -> None:
        self._out = JsonlAppender(path)
        self.path = self._out.path
        self.include_content = include_content

    def record(self, event: dict[str, Any], *, content: Any = None) -> None:
        line = {"time": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"), **event}
        if self.include_content and content is not None:
            line["content"] = content
        self._out.append(line)

    def read(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path)

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> RequestLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
