"""``nxs-lab discover``: the LLM servers on this machine, the LAN or the tailnet, as a table or, with ``--json``, one
JSON array of objects (``nxs-lab discover --json | jq '.[].url'``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..defaults import DEFAULT_PORTS, DISCOVERY_CONNECT_TIMEOUT
from ._common import EXIT_USAGE, ports, positive, print_json, print_table

__all__ = ["add", "discover"]


def discover(args: argparse.Namespace) -> int:
    from ..discovery import discover as scan
    from ..errors import ScanRefused

    try:
        eps = scan(
            args.hosts or ["127.0.0.1"],
            args.ports,
            timeout=args.timeout,
            allow_public=args.allow_public,
            progress=not (args.quiet or args.json),
        )
    except ScanRefused as exc:
        print(f"nxs-lab discover: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows = eps.rows()
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["url", "kind", "version", "auth", "exposed", "model", "model kind", "context",
                           "quantization", "loaded"])  # fmt: skip
        print(f"{len(eps)} endpoint(s), {eps.scanned} probes in {eps.seconds:.2f} s")
    for note in eps.notes:
        print(f"note: {note}", file=sys.stderr if args.json else sys.stdout)
    return 0


def add(sub: Any) -> None:
    d = sub.add_parser("discover", help="find LLM servers on this machine, the LAN or the tailnet")
    d.add_argument("hosts", nargs="*", help="names, addresses, CIDR ranges or 'tailnet' (default 127.0.0.1)")
    d.add_argument("--ports", type=ports, help=f"comma-separated ports (default: {','.join(map(str, DEFAULT_PORTS))})")
    d.add_argument(
        "--timeout", type=positive(float), default=DISCOVERY_CONNECT_TIMEOUT, help="connect timeout per port, seconds"
    )
    d.add_argument("--allow-public", action="store_true", help="allow scanning non-private addresses")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    d.add_argument("--json", action="store_true", help="one JSON array of objects (notes go to stderr)")
    d.set_defaults(func=discover)
