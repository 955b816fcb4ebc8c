"""A response cache, so a rerun of a notebook or a runbook does not pay every call again.

    >>> p = nx.Provider(base_url="http://127.0.0.1:8080/v1", cache=True)      # doctest: +SKIP
    >>> p.chat(messages, temperature=0).cached, p.chat(messages, temperature=0).cached   # doctest: +SKIP
    (False, True)

The key is the request (model, messages, tools, every parameter) and what the server really is: its kind and
version or build, the model id and its quantization, the runtime window (the answer's provenance, the time aside),
so a model swapped behind the same name, or the same name on another server, misses. Only deterministic requests
are cached (``temperature`` 0, or a ``seed``), unless the provider's cache is ``"always"``. An answer from the cache
says so (``cached=True``), keeps the original call's latency, first-token time and usage as they were
(``cached_from``), and costs a lookup: its ``latency_s`` is the lookup's.

A provider's answer is stored behind the call (:meth:`ResponseCache.put_later`, one writer thread, batched), so a
miss costs the call only its lookup; a lookup sees an answer still waiting to be written, and the waiting answers
are written when the cache is closed, flushed, read for :meth:`info`, or the process exits.

Stored in SQLite (the standard library's) in WAL mode, so two processes may read and write it at once; entries older
than ``max_age_days`` are not used, and the oldest go once there are more than ``max_entries`` (checked every
``PRUNE_EVERY`` answers stored, so a cache may hold that many more for a while). A cache file that is
corrupt or unreadable costs a warning and a fresh cache (the bad file kept beside it), never a failed call. Neither
a key nor an entry holds an API key: the key is a hash, and the entry is the answer.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..results import ChatResult, Provenance, ToolCall, Usage

__all__ = ["CACHE_MAX_AGE_DAYS", "CACHE_MAX_ENTRIES", "ResponseCache", "default_cache_path", "is_deterministic"]

CACHE_MAX_AGE_DAYS = 14.0  # promptfoo keeps its evaluation cache 14 days
CACHE_MAX_ENTRIES = 100_000
PRUNE_EVERY = 64  # answers stored between two passes over the age and size limits
WRITE_EVERY_S = 0.05  # the writer thread gathers answers this long, then writes them in one transaction
_SCHEMA = "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, stored REAL NOT NULL, answer TEXT NOT NULL)"
_IDENTITY = ("server_kind", "server_version", "model", "quantization", "context_window", "base_url")


def default_cache_path() -> Path:
    """``responses.sqlite`` in the user's cache folder (platformdirs: ``~/.cache/nxs-lab`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("nxs-lab", appauthor=False)) / "responses.sqlite"


def is_deterministic(params: Mapping[str, Any]) -> bool:
    """Whether a request asks for the same answer every time: ``temperature`` 0, or a ``seed``."""
    return params.get("temperature") == 0 or params.get("seed") is not None


def request_key(kind: str, request: Mapping[str, Any], provenance: Provenance) -> str:
    """The cache key of a request to a server: a hash of both (never the key or any header)."""
    body = {k: v for k, v in request.items() if k not in ("stream", "stream_options", "timeout", "extra_headers")}
    who = {k: getattr(provenance, k) for k in _IDENTITY}
    text = json.dumps({"kind": kind, "request": body, "server": who}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """Answers by request and server, in one SQLite file (see the module's docstring)."""

    _open: ClassVar[dict[str, ResponseCache]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()
    _every: ClassVar[weakref.WeakSet[ResponseCache]] = weakref.WeakSet()  # flushed at exit

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        max_age_days: float = CACHE_MAX_AGE_DAYS,
        max_entries: int = CACHE_MAX_ENTRIES,
    ) -> None:
        if not max_age_days > 0 or max_entries < 1:
            raise ValueError(f"a cache keeps entries for max_age_days > 0 and max_entries >= 1, not {max_age_days}, "
                             f"{max_entries}")  # fmt: skip
        self.path = Path(path).expanduser() if path is not None else default_cache_path()
        self.max_age_s = max_age_days * 86400
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._puts = 0
        # Answers not yet written (put_later): waiting, then being written by the writer thread; lookups see both.
        self._waiting: dict[str, ChatResult | Mapping[str, Any]] = {}
        self._writing: dict[str, ChatResult | Mapping[str, Any]] = {}
        self._wake = threading.Condition()
        self._writer: threading.Thread | None = None
        ResponseCache._every.add(self)

    @classmethod
    def at(cls, path: str | os.PathLike[str] | None = None, **limits: Any) -> ResponseCache:
        """The cache of ``path`` shared by every provider of this process that names it."""
        key = str(Path(path).expanduser() if path is not None else default_cache_path())
        with cls._registry_lock:
            if key not in cls._open:
                cls._open[key] = cls(key, **limits)
            return cls._open[key]

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"

    # ------------------------------------------------------------------ storage

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._opened()
            except sqlite3.DatabaseError as exc:  # a corrupt or foreign file: kept aside, a fresh cache instead
                self._set_aside(exc)
                self._db = self._opened()
        return self._db

    def _opened(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: durable but for a power cut; a cache may lose that
            db.execute(_SCHEMA)
            db.execute("CREATE INDEX IF NOT EXISTS answers_by_age ON answers (stored)")
            db.execute("SELECT COUNT(*) FROM answers").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _set_aside(self, exc: Exception) -> None:
        aside = self.path.with_name(f"{self.path.name}.unreadable-{int(time.time())}")
        warnings.warn(f"the response cache {self.path} cannot be read ({exc}): kept as {aside.name}, and a fresh "
                      "cache started", RuntimeWarning, stacklevel=4)  # fmt: skip
        with contextlib.suppress(FileNotFoundError):
            self.path.rename(aside)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").unlink()

    def _run(self, step: Callable[[sqlite3.Connection], Any], default: Any = None) -> Any:
        """``step`` on the connection; when the file fails under it, a warning and ``default``: a cache never fails
        a call (the bad file is kept aside, and the next use starts a fresh one)."""
        with self._lock:
            try:
                return step(self._connect())
            except sqlite3.DatabaseError as exc:
                if self._db is not None:
                    self._db.close()
                self._db = None
                self._set_aside(exc)
                return default

    def get(self, key: str) -> dict[str, Any] | None:
        with self._wake:
            later = self._waiting.get(key) or self._writing.get(key)
        if later is not None:
            return _as_stored(later)
        row = self._run(lambda db: db.execute("SELECT stored, answer FROM answers WHERE key = ?", (key,)).fetchone())
        if row is None or time.time() - row[0] > self.max_age_s:
            return None
        value = json.loads(row[1])
        return value if isinstance(value, dict) else None

    def put(self, key: str, answer: Mapping[str, Any]) -> None:
        """Store ``answer`` under ``key`` now."""
        self._store({key: answer})

    def put_later(self, key: str, answer: ChatResult | Mapping[str, Any]) -> None:
        """Store ``answer`` (a result, or what :meth:`stored` keeps of one) behind the caller, on the writer thread;
        :meth:`get` sees it at once."""
        with self._wake:
            self._waiting[key] = answer
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_behind, name="nxs-lab-cache", daemon=True)
                self._writer.start()
            self._wake.notify()

    def flush(self, timeout: float = 10.0) -> None:
        """Write every answer still waiting, now, and wait (up to ``timeout`` seconds) for the writer thread's."""
        with self._wake:
            batch, self._waiting = self._waiting, {}
            self._writing.update(batch)
        self._written(batch)
        with self._wake:
            self._wake.wait_for(lambda: not self._writing, timeout=timeout)

    def _write_behind(self) -> None:
        while True:
            with self._wake:
                if not self._wake.wait_for(lambda: bool(self._waiting), timeout=30):
                    self._writer = None  # idle: the next put_later starts another
                    return
            time.sleep(WRITE_EVERY_S)  # answers arriving meanwhile go in the same transaction, off the calls' path
            with self._wake:
                batch, self._waiting = self._waiting, {}
                self._writing.update(batch)
            self._written(batch)

    def _written(self, batch: Mapping[str, ChatResult | Mapping[str, Any]]) -> None:
        try:
            if batch:
                self._store(batch)
        finally:
            with self._wake:
                for key in batch:
                    if self._writing.get(key) is batch[key]:
                        del self._writing[key]
                self._wake.notify_all()

    def _store(self, answers: Mapping[str, ChatResult | Mapping[str, Any]]) -> None:
        now = time.time()
        rows = [(k, now, json.dumps(_as_stored(a), default=str, ensure_ascii=False)) for k, a in answers.items()]

        def store(db: sqlite3.Connection) -> None:
            with db:
                db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)", rows)
            before, self._puts = self._puts, self._puts + len(rows)
            every = 1 if self.max_entries <= PRUNE_EVERY else PRUNE_EVERY
            if self._puts // every > before // every:  # the limits kept every so many answers (at most that many over)
                with db:
                    db.execute("DELETE FROM answers WHERE stored < ?", (time.time() - self.max_age_s,))
                    db.execute(
                        "DELETE FROM answers WHERE key IN "
                        "(SELECT key FROM answers ORDER BY stored DESC, rowid DESC LIMIT -1 OFFSET ?)",
                        (self.max_entries,),
                    )

        self._run(store)

    def info(self) -> dict[str, Any]:
        """Where the cache is, how many answers it holds, how big the file is and its limits."""
        self.flush()
        count = self._run(lambda db: db.execute("SELECT COUNT(*) FROM answers").fetchone()[0], 0)
        size = self.path.stat().st_size if self.path.exists() else 0
        return {"path": str(self.path), "answers": count, "bytes": size, "max_age_days": self.max_age_s / 86400,
                "max_entries": self.max_entries}  # fmt: skip

    def clear(self) -> int:
        """Forget every answer; how many there were."""

        self.flush()

        def forget(db: sqlite3.Connection) -> int:
            count = int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
            db.execute("DELETE FROM answers")
            return count

        return int(self._run(forget, 0))

    def close(self) -> None:
        """Write what is waiting and close the file (the next use opens it again)."""
        self.flush()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -------------------------------------------------------------- answers

    @staticmethod
    def stored(result: ChatResult) -> dict[str, Any]:
        """What is kept of an answer: the answer, its usage and timings (no request, no key)."""
        return {
            "text": result.text, "reasoning": result.reasoning, "model": result.model,
            "finish_reason": result.finish_reason, "endpoint": result.endpoint,
            "tool_calls": [dataclasses.asdict(c) for c in result.tool_calls],
            "usage": dataclasses.asdict(result.usage), "latency_s": result.latency_s, "ttft_s": result.ttft_s,
            "provenance": dataclasses.asdict(result.provenance) if result.provenance else None,
            "stored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }  # fmt: skip

    @staticmethod
    def answer(stored: Mapping[str, Any], provider: str, lookup_s: float) -> ChatResult:
        """A stored answer as a result that says it came from the cache, the original call's figures kept."""
        origin = {k: stored.get(k) for k in ("latency_s", "ttft_s", "usage", "stored_at")}
        prov = stored.get("provenance")
        return ChatResult(
            text=str(stored.get("text") or ""),
            reasoning=str(stored.get("reasoning") or ""),
            provider=provider,
            model=str(stored.get("model") or ""),
            finish_reason=stored.get("finish_reason"),
            tool_calls=tuple(ToolCall(**c) for c in _dicts(stored.get("tool_calls"))),
            usage=Usage(**(stored.get("usage") or {})),
            latency_s=lookup_s,
            endpoint=str(stored.get("endpoint") or "chat"),
            provenance=Provenance(**prov) if isinstance(prov, dict) else None,
            cached=True,
            cached_from=origin,
        )


def _as_stored(answer: ChatResult | Mapping[str, Any]) -> dict[str, Any]:
    return ResponseCache.stored(answer) if isinstance(answer, ChatResult) else dict(answer)


@atexit.register
def _flush_every_cache() -> None:
    """At exit, the answers still waiting are written (a process that ends right after its last call keeps it)."""
    for cache in list(ResponseCache._every):
        cache.flush()


def _dicts(value: Any) -> Sequence[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
