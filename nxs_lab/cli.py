"""The ``nxs-lab`` command: serve the embedded model, list models, run runbooks."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from .defaults import DEFAULT_PORTS, DISCOVERY_CONNECT_TIMEOUT, EMBEDDED_N_CTX, SERVE_PORT
from .errors import ConfigError, MissingDependency, NxsLabError

__all__ = ["main"]

_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _key_from_env(var: str | None) -> str | None:
    """The key in the variable ``var`` names; refuses a missing or empty one, and never echoes a value that
    looks pasted in place of a name."""
    if var is None:
        return None
    if not _VAR_NAME.match(var):
        why = "takes the NAME of an environment variable; what was given is not one (not shown: it may be the key)"
        raise ConfigError("--api-key-env", [("", why)])
    key = os.environ.get(var)
    if not key:
        raise ConfigError(
            "--api-key-env", [("", f"environment variable {var} is {'empty' if key == '' else 'not set'}")]
        )
    return key


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535)")
    return port


def _ports(text: str) -> list[int]:
    ports = [_port(p.strip()) for p in text.split(",") if p.strip()]
    if not ports or 0 in ports:
        raise argparse.ArgumentTypeError(f"{text!r}: give ports from 1 to 65535, separated by commas")
    return ports


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:  # refuses NaN as well
            raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
        return value

    return parse


def _serve(args: argparse.Namespace) -> int:
    from ._net import is_loopback
    from .local import LocalServer

    key = _key_from_env(args.api_key_env)
    if key is None and not is_loopback(args.host) and not sys.stdout.isatty():
        # A generated key printed into a log file (cron, systemd) is a key on disk: refuse instead.
        why = "needs an API key and the output is not a terminal: put one in a variable, pass --api-key-env NAME"
        raise ConfigError("--host", [(args.host, why)])
    srv = LocalServer(host=args.host, port=args.port, n_ctx=args.n_ctx, api_key=key, embedding=not args.no_embedding)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with srv:
        print(f"serving {srv.chat_alias}" + (f" and {srv.embed_alias}" if srv.embed_alias else ""))
        print(f"base_url: {srv.base_url}")
        if srv.api_key is not None and key is None:
            # Generated for a non-loopback bind: the operator must learn it once, here, and nowhere else.
            print(f"api key (generated): {srv.api_key.get_secret_value()}")
        print("press Ctrl-C to stop", flush=True)
        try:
            while not stop.wait(0.5):
                if not srv.running:
                    print("the server exited:\n" + srv.log_tail(), file=sys.stderr)
                    return 1
        except KeyboardInterrupt:
            pass
    return 0


def _models(args: argparse.Namespace) -> int:
    from .client.provider import Provider

    key = _key_from_env(args.api_key_env)
    with Provider(name="cli", base_url=args.base_url, api_key=key) as p:
        models = p.list_models()
    width = max((len(m.id) for m in models), default=2)
    print(f"{'id':<{width}}  {'kind':<9}  {'context':>7}  quantization")
    for m in models:
        print(f"{m.id:<{width}}  {m.kind.value:<9}  {m.context_window or '-':>7}  {m.quantization or '-'}")
    return 0


def _discover(args: argparse.Namespace) -> int:
    from .discovery import discover
    from .errors import ScanRefused

    ports = args.ports
    try:
        eps = discover(
            args.hosts or ["127.0.0.1"],
            ports,
            timeout=args.timeout,
            allow_public=args.allow_public,
            progress=not args.quiet,
        )
    except ScanRefused as exc:
        print(f"nxs-lab discover: {exc}", file=sys.stderr)
        return 2
    rows = eps.rows()
    cols = ["url", "kind", "version", "auth", "exposed", "model", "model kind", "context", "quantization", "loaded"]
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c] if r[c] is not None else "-").ljust(widths[c]) for c in cols))
    print(f"{len(eps)} endpoint(s), {eps.scanned} probes in {eps.seconds:.2f} s")
    for note in eps.notes:
        print(f"note: {note}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from .errors import RunbookFailed
    from .runbooks import parse_parameter, run_runbook

    params = {name: parse_parameter(value) for name, value in args.parameter or []}
    try:
        result = run_runbook(args.runbook, params, runs_dir=args.runs_dir, progress=not args.quiet)
    except RunbookFailed as exc:
        print(f"nxs-lab run: {exc}", file=sys.stderr)
        return 1
    print(f"runbook {result.runbook} finished in {result.seconds:.1f} s")
    print(f"output: {result.output_path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nxs-lab", description="Work with OpenAI-compatible LLM servers.")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the embedded server with the bundled SmolLM2 model")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a key)")
    s.add_argument(
        "--port",
        type=_port,
        default=SERVE_PORT,
        help=f"port (default {SERVE_PORT}, which discovery scans; 0: a free one)",
    )
    s.add_argument(
        "--n-ctx", type=_positive(int), default=EMBEDDED_N_CTX, help=f"context window (default {EMBEDDED_N_CTX})"
    )
    s.add_argument("--api-key-env", help="environment variable holding the API key to require")
    s.add_argument("--no-embedding", action="store_true", help="serve the chat alias only")
    s.set_defaults(func=_serve)

    m = sub.add_parser("models", help="list the models a server serves")
    m.add_argument("--base-url", required=True)
    m.add_argument("--api-key-env", help="environment variable holding the API key")
    m.set_defaults(func=_models)

    d = sub.add_parser("discover", help="find LLM servers on this machine, the LAN or the tailnet")
    d.add_argument("hosts", nargs="*", help="names, addresses, CIDR ranges or 'tailnet' (default 127.0.0.1)")
    d.add_argument("--ports", type=_ports, help=f"comma-separated ports (default: {','.join(map(str, DEFAULT_PORTS))})")
    d.add_argument(
        "--timeout", type=_positive(float), default=DISCOVERY_CONNECT_TIMEOUT, help="connect timeout per port, seconds"
    )
    d.add_argument("--allow-public", action="store_true", help="allow scanning non-private addresses")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_discover)

    r = sub.add_parser("run", help="run a runbook (a papermill notebook) into a timestamped runs folder")
    r.add_argument(
        "runbook",
        help="a path to an .ipynb, or a shipped runbook's name: quickstart, discovery, fallback_drill, "
        "context_budget, tool_calling, quantization, demo (or its number: 00 … 05)",
    )
    r.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"))
    r.add_argument("--runs-dir", default="runs", help="where executed notebooks go (default ./runs)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:  # the command's own input: exit 2, like argparse's errors
        print(f"nxs-lab {args.command}: {exc}", file=sys.stderr)
        return 2
    except MissingDependency as exc:
        print(f"nxs-lab: {exc}", file=sys.stderr)
        return 3
    except (NxsLabError, FileNotFoundError) as exc:
        print(f"nxs-lab {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
