"""Chat transcripts that survive a kernel crash: one message per JSON line, written as it is shown.

>>> t = Transcript("runs/chat.jsonl")                 # doctest: +SKIP
>>> t.append({"role": "user", "content": "hi"})       # doctest: +SKIP
>>> Transcript.load("runs/chat.jsonl").messages       # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .._jsonl import JsonlAppender, read_jsonl

__all__ = ["Transcript"]


class Transcript:
    """A conversation kept on disk line by line; :meth:`load` resumes it.

    A message survives a crash of the process once :meth:`append` returned; with ``fsync=True`` a power cut too.
    A line torn by a crash mid-write is set aside (``<name>.torn``) when the file is opened again, and any text
    round-trips (see :mod:`nxs_lab._jsonl`).
    """

    def __init__(
        self, path: str | os.PathLike[str], messages: list[dict[str, Any]] | None = None, *, fsync: bool = False
    ) -> None:
        self._out = JsonlAppender(path, fsync=fsync)
        self.path = self._out.path
        self.messages: list[dict[str, Any]] = list(messages or [])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Transcript:
        records = read_jsonl(path) if os.path.exists(path) else []
        for i, r in enumerate(records):
            if not isinstance(r, dict) or "role" not in r:
                raise ValueError(f"{path}:{i + 1}: not a chat message (no 'role')")
        return cls(path, records)

    def append(self, message: Mapping[str, Any]) -> None:
        if "role" not in message:
            raise ValueError("a transcript message needs a 'role'")
        record = dict(message)
        self._out.append(record)  # on disk first: what is shown is never lost
        self.messages.append(record)

    def close(self) -> None:
        self._out.close()

    def __len__(self) -> int:
        return len(self.messages)
