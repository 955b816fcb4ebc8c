"""The listing commands: ``models``, ``discover`` and ``status``, each as a table or, with ``--json``, as one JSON
array of objects (``nxs-lab discover --json | jq '.[].url'``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..defaults import DEFAULT_PORTS, DISCOVERY_CONNECT_TIMEOUT
from ._common import EXIT_USAGE, key_from_env, ports, positive, print_json, print_table, settings


def models(args: argparse.Namespace) -> int:
    from ..client.provider import Provider

    key = key_from_env(args.api_key_env)
    with Provider(name="cli", base_url=args.base_url, api_key=key) as p:
        found = p.list_models()
    rows = [
        {"id": m.id, "kind": m.kind.value, "context": m.context_window, "quantization": m.quantization,
         "loaded": m.loaded.value}
        for m in found
    ]  # fmt: skip
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["id", "kind", "context", "quantization", "loaded"])
    return 0


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


def status(args: argparse.Namespace) -> int:
    from ..resilience.fallback import FallbackChain

    cfg = settings(args)
    if not cfg.config.providers:
        from ..userconfig import how_to_configure

        print(f"nxs-lab status: no provider is configured: {how_to_configure()}", file=sys.stderr)
        return EXIT_USAGE
    with FallbackChain.from_config(cfg.config) as chain:
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
    m = sub.add_parser("models", help="list the models a server serves")
    m.add_argument("--base-url", required=True)
    m.add_argument("--api-key-env", help="environment variable holding the API key")
    m.add_argument("--json", action="store_true", help="one JSON array of objects")
    m.set_defaults(func=models)

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

    s = sub.add_parser("status", help="each configured provider: up or not, breaker, model, window, where it came from")
    s.add_argument("--json", action="store_true", help="one JSON array of objects")
    s.set_defaults(func=status)
