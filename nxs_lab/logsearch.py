"""Finding a conversation in the request log: "what did it say last Tuesday, and on which quant?".

The request log stays JSON lines (any number of processes append to it at once and lose nothing, see
:mod:`nxs_lab._jsonl`); with ``[log] content = true`` each line also holds the question and the answer (keys and
secrets redacted). :func:`search` keeps a full-text index beside it (``requests.jsonl.sqlite``: SQLite's FTS5, or
a plain ``LIKE`` scan where the sqlite build lacks FTS5), brought up to date from where it stopped reading the
log each time it is asked, so a log written before the index existed, or by another machine, is imported as is.

    >>> found = nx.logs.search("rivers")           # doctest: +SKIP
    >>> found                      # a table in a notebook; found.rows for code   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._html import Table

__all__ = ["COLUMNS", "LogIndex", "search"]

COLUMNS = ("time", "provider", "model", "outcome", "question", "answer")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lines (id INTEGER PRIMARY KEY, time TEXT, provider TEXT, model TEXT, outcome TEXT,"
    " question TEXT, answer TEXT, raw TEXT)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
)
_FTS = "CREATE VIRTUAL TABLE IF NOT EXISTS lines_fts USING fts5(question, answer, content='lines', content_rowid='id')"


class LogIndex:
    """The full-text index of one request log (``<log>.sqlite``), refreshed from the log on every search."""

    def __init__(self, log_path: str | os.PathLike[str], *, fts: bool | None = None) -> None:
        self.log_path = Path(log_path)
        self.path = self.log_path.with_name(self.log_path.name + ".sqlite")
        self._fts_wanted = fts  # None: FTS5 where the sqlite build has it

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                db.execute(statement)
            yield db
        finally:
            db.close()

    def _fts(self, db: sqlite3.Connection) -> bool:
        if self._fts_wanted is False:
            return False
        try:
            db.execute(_FTS)
        except sqlite3.OperationalError:  # this sqlite was built without FTS5: a plain scan instead
            return False
        return True

    def refresh(self) -> int:
        """Index the log's lines written since the last refresh (all of them the first time); how many."""
        if not self.log_path.is_file():
            return 0
        with self._db() as db:
            fts = self._fts(db)
            db.execute("BEGIN IMMEDIATE")  # one process imports at a time; the others wait, then find nothing new
            try:
                row = db.execute("SELECT value FROM meta WHERE key = 'offset'").fetchone()
                offset = int(row[0]) if row else 0
                added, offset = self._import(db, offset, fts)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('offset', ?)", (str(offset),))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return added

    def _import(self, db: sqlite3.Connection, offset: int, fts: bool) -> tuple[int, int]:
        size = self.log_path.stat().st_size
        if offset > size:  # the log was replaced by a shorter one: index it again from the start
            db.execute("DELETE FROM lines")
            if fts:
                db.execute("INSERT INTO lines_fts(lines_fts) VALUES ('rebuild')")
            offset = 0
        added = 0
        with self.log_path.open("rb") as fh:
            fh.seek(offset)
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # a line still being written: the next refresh takes it
                offset += len(raw)
                record = _record(raw)
                if record is None:
                    continue
                given = record.get("content")
                content: dict[str, Any] = given if isinstance(given, dict) else {}
                values = (record.get("time"), record.get("provider"), record.get("model"), record.get("outcome"),
                          content.get("question"), content.get("answer"), raw.decode("utf-8", "replace"))  # fmt: skip
                cur = db.execute(
                    "INSERT INTO lines (time, provider, model, outcome, question, answer, raw) VALUES (?,?,?,?,?,?,?)",
                    values,
                )
                if fts:
                    db.execute("INSERT INTO lines_fts(rowid, question, answer) VALUES (?, ?, ?)",
                               (cur.lastrowid, values[4], values[5]))  # fmt: skip
                added += 1
        return added, offset

    def search(self, words: str, *, limit: int = 50) -> Table:
        """The logged calls whose question or answer holds every one of ``words``, newest first."""
        terms = [w for w in words.split() if w.strip()]
        if not terms:
            raise ValueError("search: give at least one word to look for")
        self.refresh()
        with self._db() as db:
            if self._fts(db):
                query = " ".join('"' + t.replace('"', '""') + '"' for t in terms)
                sql = ("SELECT l.time, l.provider, l.model, l.outcome, l.question, l.answer FROM lines_fts f"
                       " JOIN lines l ON l.id = f.rowid WHERE lines_fts MATCH ? ORDER BY l.id DESC LIMIT ?")  # fmt: skip
                rows = db.execute(sql, (query, limit)).fetchall()
            else:
                like = " AND ".join(["(COALESCE(question, '') || ' ' || COALESCE(answer, '')) LIKE ?"] * len(terms))
                sql = ("SELECT time, provider, model, outcome, question, answer FROM lines WHERE " + like
                       + " ORDER BY id DESC LIMIT ?")  # fmt: skip
                rows = db.execute(sql, (*(f"%{t}%" for t in terms), limit)).fetchall()
        found = [dict(zip(COLUMNS, r, strict=True)) for r in rows]
        return Table(f"{len(found)} logged call(s) with {words!r} ({self.log_path})", found)


def _record(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None  # a torn line set aside by the appender: skipped, as read_jsonl skips it
    return value if isinstance(value, dict) else None


def search(words: str, *, path: str | os.PathLike[str] | None = None, limit: int = 50) -> Table:
    """The calls in the request log (``path``; default: where the command line and the panels keep it) whose
    question or answer holds every one of ``words``, newest first: a table in a notebook (``.rows`` in code)."""
    from .userconfig import request_log_path

    return LogIndex(path or request_log_path()).search(words, limit=limit)
