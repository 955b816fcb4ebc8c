"""``nxs-lab export litellm`` and ``nxs-lab gateway``: the configured providers as a LiteLLM proxy for many clients
(editors, agents, several users) at one OpenAI-compatible URL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._net import is_loopback
from ..defaults import SERVER_PORTS
from ..errors import ConfigError
from ._common import port, run_in_foreground, settings


def export(args: argparse.Namespace) -> int:
    from ..gateway import litellm_config, to_yaml

    text = to_yaml(litellm_config(settings(args).config))
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def gateway(args: argparse.Namespace) -> int:
    from ..gateway import ALIAS, MASTER_KEY_ENV
    from ..gateway.proxy import Gateway

    gw = Gateway(settings(args).config, host=args.host, port=args.port)
    if gw.generated_key and not sys.stdout.isatty():
        # A generated key printed into a log file is a key on disk: refuse instead.
        why = f"the proxy needs a master key and the output is not a terminal: set {MASTER_KEY_ENV}"
        raise ConfigError("nxs-lab gateway", [("", why)])

    def banner() -> list[str]:
        lines = [f"LiteLLM gateway on {gw.base_url}: model {ALIAS!r} asks the chain, each provider by its name"]
        if gw.generated_key:
            lines.append(f"master key (generated, shown once; set {MASTER_KEY_ENV} to choose one): "
                         f"{gw.master_key.get_secret_value()}")  # fmt: skip
        if not is_loopback(args.host):
            lines.append(f"listening beyond this machine ({args.host}): every client needs the master key")
        return lines

    return run_in_foreground(gw, banner)


def add(sub: Any) -> None:
    e = sub.add_parser("export", help="the configured providers as another tool's configuration")
    e.add_argument("format", choices=["litellm"], help="litellm: a LiteLLM proxy config.yaml")
    e.add_argument("-o", "--out", help="write to this file (default: stdout)")
    e.set_defaults(func=export)
    g = sub.add_parser("gateway", help="start a LiteLLM proxy with the configured providers (the gateway extra)")
    g.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    g.add_argument("--port", type=port, default=SERVER_PORTS["litellm"][0], help="port (default 4000; 0: a free one)")
    g.set_defaults(func=gateway)
