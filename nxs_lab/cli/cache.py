"""``nxs-lab cache info|clear [--path FILE] [--json]``: what the response cache holds (where, how many answers, how
big, its limits), and forgetting it (see :mod:`nxs_lab.client.cache`)."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_OK, print_json, print_table

__all__ = ["add", "cache"]


def cache(args: argparse.Namespace) -> int:
    from ..client.cache import ResponseCache

    store = ResponseCache(args.path)
    try:
        if args.action == "clear":
            n = store.clear()
            print(f"forgot {n} answer{'s' if n != 1 else ''} in {store.path}")
            return EXIT_OK
        info = store.info()
        if args.json:
            print_json(info)
        else:
            print_table([{"what": k, "value": v} for k, v in info.items()], ["what", "value"])
        return EXIT_OK
    finally:
        store.close()


def add(sub: Any) -> None:
    c = sub.add_parser("cache", help="what the response cache holds, or forget it")
    c.add_argument("action", choices=["info", "clear"])
    c.add_argument("--path", help="the cache file (default: responses.sqlite in your cache folder)")
    c.add_argument("--json", action="store_true", help="info as one JSON object")
    c.set_defaults(func=cache)
