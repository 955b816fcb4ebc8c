"""The ``nxs-lab`` command: ask and chat through the fallback chain, see what is up, serve the embedded model,
run runbooks. Each command lives in its own module; this one builds the parser and maps errors to exit codes:

    0  done          1  the work failed (every provider, a runbook cell, a server)
    2  bad input or configuration        3  an optional extra is missing        130  stopped with Ctrl-C
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import ConfigError, MissingDependency, NxsLabError
from . import ask, cache, discover, doctor, gateway, init, logs, models, run, serve, status
from ._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_MISSING, EXIT_USAGE

__all__ = ["build_parser", "main"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nxs_lab")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nxs-lab",
        description="Work with OpenAI-compatible LLM servers: local (LM Studio, Ollama, llama.cpp, vLLM) and cloud.",
        epilog="exit codes: 0 done, 1 the work failed, 2 bad input or configuration, 3 an optional extra is "
        "missing, 130 stopped with Ctrl-C",
    )
    parser.add_argument("--version", action="version", version=f"nxs-lab {_version()}")
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for module in (ask, models, discover, status, doctor, serve, run, logs, cache, gateway, init):
        module.add(sub)
    for command in sub.choices.values():  # the same options after the command, never resetting those before it
        _global_options(command, after_command=True)
    return parser


def _global_options(parser: argparse.ArgumentParser, *, after_command: bool = False) -> None:
    """``--config`` and ``-v``; after the command they set nothing unless given, so they never undo those before it."""
    parser.add_argument(
        "--config",
        default=argparse.SUPPRESS if after_command else None,
        help="a settings file (default: $NXS_LAB_CONFIG, else config.toml in your config folder)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS if after_command else 0,
        help="log lines on stderr (-vv: every call)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        from ..logs import configure

        configure("debug" if args.verbose > 1 else "info")
    try:
        return int(args.func(args))
    except ConfigError as exc:  # the command's own input: exit 2, like argparse's errors
        print(f"nxs-lab {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MissingDependency as exc:
        print(f"nxs-lab: {exc}", file=sys.stderr)
        return EXIT_MISSING
    except (NxsLabError, FileNotFoundError) as exc:
        print(f"nxs-lab {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
