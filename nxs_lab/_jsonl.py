"""Append-only JSON Lines files that survive a crash: one ``write()`` per line on an ``O_APPEND`` descriptor.

Nothing is buffered in Python, so a line that was written is on its way to disk even if the process dies
the next moment, and concurrent writers never interleave inside a line. Reading skips a torn final line
(a crash mid-write) and refuses a bad line anywhere else.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["JsonlAppender", "read_jsonl"]


class JsonlAppender:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()

    def append(self, record: Any) -> None:
        data = (json.dumps(record, default=str, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self._fd < 0:
                raise ValueError(f"{self.path} is closed")
            os.write(self._fd, data)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_jsonl(path: str | os.PathLike[str]) -> list[Any]:
    """Every complete line. A torn last line is left out; a bad line elsewhere raises ``ValueError``."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    lines = text.splitlines()
    out = []
    for i, raw in enumerate(lines):
        try:
            out.append(json.loads(raw))
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1 and not text.endswith("\n"):
                break  # torn by a crash mid-write: everything before it is whole
            raise ValueError(f"{p}:{i + 1}: not a JSON line ({exc.msg})") from exc
    return out
