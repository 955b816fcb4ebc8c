"""``nxs-lab logs``: the request log the command line keeps (``requests.jsonl``): one line per attempt at a
provider, its question and answer only with ``[log] content = true`` (keys redacted). ``--tail`` follows it as lines
arrive; ``--search WORDS`` finds the calls whose question or answer holds them (see :mod:`nxs_lab.logsearch`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ._common import EXIT_INTERRUPTED, EXIT_USAGE, print_json, print_table, request_log_path

COLUMNS = ["time", "op", "provider", "outcome", "elapsed_ms", "error", "status", "model", "prompt_tokens",
           "completion_tokens"]  # fmt: skip


def _show(lines: list[str], as_json: bool) -> None:
    if as_json:
        for line in lines:
            print(line)
        return
    rows: list[dict[str, Any]] = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            rows.append({"time": "(a torn line)", "error": line[:60]})
    print_table(rows, COLUMNS)


def _follow(path: Path, as_json: bool) -> int:
    with path.open(encoding="utf-8") as fh:
        fh.seek(0, 2)
        try:
            while True:
                line = fh.readline()
                if not line.endswith("\n"):  # nothing new, or a line still being written
                    fh.seek(fh.tell() - len(line.encode("utf-8")))
                    time.sleep(0.2)
                    continue
                if as_json:
                    print(line.rstrip("\n"), flush=True)
                else:
                    row = json.loads(line)
                    print("  ".join(str(row.get(c, "-")) for c in COLUMNS), flush=True)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED


def _search(path: Path, words: str, as_json: bool, limit: int) -> int:
    from ..logsearch import COLUMNS, search

    found = search(words, path=path, limit=limit or 50)
    if as_json:
        print_json(found.rows)
    else:
        print_table(found.rows, list(COLUMNS))
    return 0


def logs(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else request_log_path(args)
    if not path.is_file():
        print(f"nxs-lab logs: no request log at {path} yet (ask, chat and the panels write one)", file=sys.stderr)
        return EXIT_USAGE
    if args.search:
        return _search(path, args.search, args.json, args.lines)
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    _show(lines[-args.lines :] if args.lines else lines, args.json)
    return _follow(path, args.json) if args.tail else 0


def add(sub: Any) -> None:
    g = sub.add_parser("logs", help="show the request log (one line per attempt; no content, no keys)")
    g.add_argument("-n", "--lines", type=int, default=20, help="the last N lines (0: all; default 20)")
    g.add_argument("--tail", action="store_true", help="then follow new lines until Ctrl-C")
    g.add_argument("--json", action="store_true", help="the raw JSON lines")
    g.add_argument("--file", help="another request log file")
    g.add_argument(
        "--search", metavar="WORDS", help="the calls whose question or answer holds every word ([log] content)"
    )
    g.set_defaults(func=logs)
