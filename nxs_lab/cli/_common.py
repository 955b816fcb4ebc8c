"""What every command shares: argument types, where settings and the request log come from, and output as a
table or as JSON."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_MISSING",
    "EXIT_OK",
    "EXIT_USAGE",
    "answering",
    "key_from_env",
    "port",
    "ports",
    "positive",
    "print_json",
    "print_table",
    "request_log_path",
    "run_in_foreground",
    "settings",
]

# Exit codes (the README's table): 0 done; 1 the work failed (every provider, a runbook cell, a server);
# 2 the command's input or the configuration is wrong; 3 an optional extra is missing; 130 stopped with Ctrl-C.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MISSING, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def key_from_env(var: str | None) -> str | None:
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


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (0-65535)")
    return value


def ports(text: str) -> list[int]:
    values = [port(p.strip()) for p in text.split(",") if p.strip()]
    if not values or 0 in values:
        raise argparse.ArgumentTypeError(f"{text!r}: give ports from 1 to 65535, separated by commas")
    return values


def positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:  # refuses NaN as well
            raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
        return value

    return parse


def settings(args: argparse.Namespace) -> Any:
    """The settings in force for this command (``--config``, ``NXS_LAB_CONFIG``, the user's config file), read
    once per command."""
    if getattr(args, "_settings", None) is None:
        from ..userconfig import Settings

        args._settings = Settings.find(getattr(args, "config", None))
    return args._settings


def answering(args: argparse.Namespace) -> Any:
    """The settings with the providers that will answer: the configured ones, else those found on this machine
    (:mod:`nxs_lab.discovery.which`), which is said once on stderr with how to pin it."""
    if getattr(args, "_answering", None) is None:
        from ..discovery.which import resolved

        args._answering = resolved(settings(args))
        if args._answering.note:
            print(f"nxs-lab: {args._answering.note}", file=sys.stderr)
    return args._answering


def request_log_path(args: argparse.Namespace) -> Path:
    """Where the command line keeps its request log (the runs folder the settings name, else the user's data
    folder: :func:`nxs_lab.resilience.requestlog.request_log_path`)."""
    from ..resilience.requestlog import request_log_path as usual

    return Path(usual(settings(args).config))


def run_in_foreground(child: Any, banner: Callable[[], Iterable[str]]) -> int:
    """Start ``child`` (a server the kit runs), print the lines ``banner()`` gives once it is up, and keep it
    until Ctrl-C or SIGTERM; 1 when it exits on its own (with its log's tail on stderr)."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with child:
        for line in banner():
            print(line)
        print("press Ctrl-C to stop", flush=True)
        try:
            while not stop.wait(0.5):
                if not child.running:
                    print(f"{child.what} exited:\n" + child.log_tail(), file=sys.stderr)
                    return EXIT_FAILED
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Left-aligned columns; ``-`` for a missing value."""
    cells = [[("-" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
