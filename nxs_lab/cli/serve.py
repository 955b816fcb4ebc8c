"""``nxs-lab serve``: the embedded server with the bundled model, in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..defaults import EMBEDDED_N_CTX, SERVE_PORT
from ..errors import ConfigError
from ._common import key_from_env, port, positive, run_in_foreground

# Said when the server listens beyond this machine: the key is required, and the safer way to reach a home box.
BEYOND_LOOPBACK = [
    "listening beyond this machine: every request needs the API key (Authorization: Bearer …)",
    "safer: keep it on 127.0.0.1 and reach it over Tailscale (`tailscale serve --bg 8000` on this machine, then",
    "  https://<this machine>.<tailnet>.ts.net/v1 from your others), or bind only the tailnet address (100.x.y.z)",
]


def serve(args: argparse.Namespace) -> int:
    from .._net import is_loopback
    from ..local import LocalServer

    key = key_from_env(args.api_key_env)
    if key is None and not is_loopback(args.host) and not sys.stdout.isatty():
        # A generated key printed into a log file (cron, systemd) is a key on disk: refuse instead.
        why = "needs an API key and the output is not a terminal: put one in a variable, pass --api-key-env NAME"
        raise ConfigError("--host", [(args.host, why)])
    srv = LocalServer(host=args.host, port=args.port, n_ctx=args.n_ctx, api_key=key, embedding=not args.no_embedding)

    def banner() -> list[str]:
        lines = [f"serving {srv.chat_alias}" + (f" and {srv.embed_alias}" if srv.embed_alias else ""),
                 f"base_url: {srv.base_url}"]  # fmt: skip
        if srv.api_key is not None and key is None:
            # Generated for a non-loopback bind: the operator must learn it once, here, and nowhere else.
            lines.append(f"api key (generated): {srv.api_key.get_secret_value()}")
        if not is_loopback(args.host):
            lines += BEYOND_LOOPBACK
        return lines

    return run_in_foreground(srv, banner)


def add(sub: Any) -> None:
    s = sub.add_parser("serve", help="run the embedded server with the bundled SmolLM2 model")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a key)")
    s.add_argument(
        "--port",
        type=port,
        default=SERVE_PORT,
        help=f"port (default {SERVE_PORT}, which discovery scans; 0: a free one)",
    )
    s.add_argument(
        "--n-ctx", type=positive(int), default=EMBEDDED_N_CTX, help=f"context window (default {EMBEDDED_N_CTX})"
    )
    s.add_argument("--api-key-env", help="environment variable holding the API key to require")
    s.add_argument("--no-embedding", action="store_true", help="serve the chat alias only")
    s.set_defaults(func=serve)
