"""Append-only JSON Lines files that lose nothing: each line is written whole with one ``write()`` on an
``O_APPEND`` descriptor, or not at all.

What it promises, and what not:

- **A process crash** (a killed kernel, an exception, Ctrl-C) loses no line that ``append`` returned from:
  nothing is buffered in Python, the line is in the operating system's hands. A crash *during* a write can
  leave a torn last line; opening the file again sets that fragment aside (into ``<name>.torn``, so nothing
  is thrown away) before the next line is written, and reading skips it.
- **A power cut** can lose the last lines the operating system had not yet written to the disk, unless the
  file was opened with ``fsync=True`` (one ``fsync`` per line: about a millisecond on an SSD).
- **Any text round-trips**: U+2028, U+2029 and U+0085 are written escaped (other tools split lines on
  them) and lines are split on ``\\n`` only; a lone surrogate (some servers send one) is written as its
  ``\\udXXX`` escape and reads back as the same string.
- **A short write** (a full disk, a quota) raises ``OSError`` and the partial line is taken back.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

__all__ = ["JsonlAppender", "dumps_line", "read_jsonl"]

# Characters json.dumps(ensure_ascii=False) leaves raw that must not reach the file raw: line separators other
# tools split on, and lone surrogates, which cannot be encoded as UTF-8 at all.
_UNSAFE = re.compile("[\u0085\u2028\u2029\ud800-\udfff]")


def dumps_line(record: Any) -> bytes:
    """``record`` as one line of UTF-8 JSON ending in ``\\n`` (non-ASCII text stays readable)."""
    text = json.dumps(record, default=str, ensure_ascii=False)
    return (_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n").encode("utf-8")


def _set_aside_torn_tail(path: Path, fd: int) -> None:
    """If the file does not end with a newline, move what follows its last newline into ``<name>.torn``."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    with open(path, "rb") as f:
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return
        # Find the last newline, reading back in blocks (a torn line is short; the file may not be).
        end = size
        start = size
        while start > 0:
            start = max(0, end - 65536)
            f.seek(start)
            block = f.read(end - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                start += cut + 1
                break
            end = start
        f.seek(start)
        fragment = f.read(size - start)
    if _whole_json(fragment):  # a whole record that only lacks its newline: keep it where it is
        os.write(fd, b"\n")
        return
    with open(path.with_name(path.name + ".torn"), "ab") as side:
        side.write(fragment + b"\n")
    os.ftruncate(fd, start)


class JsonlAppender:
    """Appends one JSON line per record to ``path`` (created with mode 0600, its folder too)."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()
        _set_aside_torn_tail(self.path, self._fd)

    def append(self, record: Any) -> None:
        """Write ``record`` as one line: whole, or ``OSError`` with the file as it was."""
        data = dumps_line(record)
        with self._lock:
            if self._fd < 0:
                raise ValueError(f"{self.path} is closed")
            before = os.fstat(self._fd).st_size
            try:
                written = os.write(self._fd, data)
                if written != len(data):
                    raise OSError(f"{self.path}: short write ({written} of {len(data)} bytes; is the disk full?)")
                if self.fsync:
                    os.fsync(self._fd)
            except OSError:
                os.ftruncate(self._fd, before)  # take the partial line back: the next one starts clean
                raise

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _whole_json(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except ValueError:  # not UTF-8 (cut inside a character) or not JSON (cut inside the line)
        return False
    return True


def read_jsonl(path: str | os.PathLike[str]) -> list[Any]:
    """Every complete line. A torn last line is left out; a bad line elsewhere raises ``ValueError``."""
    p = Path(path)
    lines = p.read_bytes().split(b"\n")  # only "\n" ends a line: U+2028 and friends are text
    complete, tail = lines[:-1], lines[-1]  # tail: b"" after a final newline, else what a crash left
    if tail.strip() and _whole_json(tail):
        complete.append(tail)  # a whole record that only lacks its newline (written by another tool)
    out = []
    for i, raw in enumerate(complete):
        if not raw.strip():
            continue
        try:
            out.append(json.loads(raw.decode("utf-8")))
        except ValueError as exc:
            raise ValueError(f"{p}:{i + 1}: not a JSON line ({str(exc)[:120]})") from exc
    return out
