"""``nxs-lab models``: the models a server serves, as a table or, with ``--json``, one JSON array of objects."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import key_from_env, print_json, print_table

__all__ = ["add", "models"]


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


def add(sub: Any) -> None:
    m = sub.add_parser("models", help="list the models a server serves")
    m.add_argument("--base-url", required=True)
    m.add_argument("--api-key-env", help="environment variable holding the API key")
    m.add_argument("--json", action="store_true", help="one JSON array of objects")
    m.set_defaults(func=models)
