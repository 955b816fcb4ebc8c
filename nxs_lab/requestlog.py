"""A structured request log: one JSON object per line, appended with one write each.

Every line is written with a single ``write()`` on a file opened ``O_APPEND``
and nothing is buffered in Python, so a crash loses no finished line and
concurrent writers never interleave within a line. Message content is left out
unless asked for.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["RequestLog"]


class RequestLog:
    """Append-only JSONL log of attempts.

    >>> log = RequestLog("runs/requests.jsonl")          # doctest: +SKIP
    >>> chain = FallbackChain([...], log=log)            # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str], *, include_content: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.include_content = include_content
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()

    def record(self, event: dict[str, Any], *, content: Any = None) -> None:
        line = {"time": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"), **event}
        if self.include_content and content is not None:
            line["content"] = content
        data = (json.dumps(line, default=str, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            os.write(self._fd, data)

    def read(self) -> list[dict[str, Any]]:
        """Every complete line. A torn last line (a crash mid-write) is left out; a bad line elsewhere raises."""
        lines = self.path.read_text(encoding="utf-8").splitlines()
        out = []
        for i, raw in enumerate(lines):
            try:
                out.append(json.loads(raw))
            except json.JSONDecodeError as exc:
                if i == len(lines) - 1:
                    break
                raise ValueError(f"{self.path}:{i + 1}: not a JSON line ({exc.msg})") from exc
        return out

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RequestLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
