"""``nxs-lab models``: the models a server serves (``--base-url``), or those of every provider that would answer
(configured, else found on this machine), as a table or, with ``--json``, one JSON array of objects."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import EXIT_FAILED, EXIT_OK, answering, key_from_env, print_json, print_table

__all__ = ["add", "models"]

COLUMNS = ["provider", "id", "kind", "context", "quantization", "loaded"]


def _rows(name: str, found: Any) -> list[dict[str, Any]]:
    return [
        {"provider": name, "id": m.id, "kind": m.kind.value, "context": m.context_window,
         "quantization": m.quantization, "loaded": m.loaded.value}
        for m in found
    ]  # fmt: skip


def _every_provider(args: argparse.Namespace) -> tuple[list[dict[str, Any]], int]:
    """The rows of every answering provider, and how many failed (each said on stderr; the others still listed)."""
    from ..client.provider import Provider
    from ..errors import ProviderError

    rows: list[dict[str, Any]] = []
    failed = 0
    for cfg in answering(args).config.by_priority():
        with Provider(config=cfg) as p:
            try:
                rows += _rows(cfg.name, p.list_models())
            except ProviderError as exc:
                failed += 1
                print(f"nxs-lab models: {exc}", file=sys.stderr)
    return rows, failed


def models(args: argparse.Namespace) -> int:
    from ..client.provider import Provider

    failed = 0
    if args.base_url:
        with Provider(name="cli", base_url=args.base_url, api_key=key_from_env(args.api_key_env)) as p:
            rows = _rows("cli", p.list_models())
    else:
        rows, failed = _every_provider(args)
    if args.json:
        print_json(rows)
    else:
        print_table(rows, COLUMNS if not args.base_url else COLUMNS[1:])
    return EXIT_FAILED if failed and not rows else EXIT_OK


def add(sub: Any) -> None:
    m = sub.add_parser("models", help="list the models a server serves (default: every provider that would answer)")
    m.add_argument("--base-url", help="ask this server only (default: the configured providers, else those found)")
    m.add_argument("--api-key-env", help="environment variable holding the API key (with --base-url)")
    m.add_argument("--json", action="store_true", help="one JSON array of objects")
    m.set_defaults(func=models)
