"""``nxs-lab status``: each configured provider checked at once: up or not, its breaker, kind, model, window and
where it was configured; a table or, with ``--json``, one JSON array of objects."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import answering, print_json, print_table

__all__ = ["add", "status"]


def status(args: argparse.Namespace) -> int:
    from ..resilience.fallback import FallbackChain

    cfg = answering(args)
    with FallbackChain.from_config(cfg.chosen(None, "nxs-lab")) as chain:
        rows = chain.status(cfg.origins)
    if args.json:
        print_json(rows)
        return 0
    print(f"config: {cfg.path or 'no file'}")
    print_table(rows, ["provider", "up", "latency_ms", "breaker", "kind", "model", "window", "base_url", "from"])
    for r in rows:
        if r["error"]:
            print(f"{r['provider']}: {r['error']}")
    return 0


def add(sub: Any) -> None:
    s = sub.add_parser("status", help="each configured provider: up or not, breaker, model, window, where it came from")
    s.add_argument("--json", action="store_true", help="one JSON array of objects")
    s.set_defaults(func=status)
