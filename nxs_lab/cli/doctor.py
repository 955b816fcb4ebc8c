"""``nxs-lab doctor``: what is configured, what is up here and which would answer, and whether this machine's model
servers are safe to reach from elsewhere (see :mod:`nxs_lab.discovery.doctor`). A table with each finding's advice
under it, or ``--json``; exit status 1 when something needs acting on."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_FAILED, EXIT_OK, ports, print_json, print_table, settings

__all__ = ["add", "doctor"]


def doctor(args: argparse.Namespace) -> int:
    from ..defaults import DEFAULT_PORTS
    from ..discovery.doctor import doctor as examine

    report = examine(ports=args.ports or DEFAULT_PORTS, settings=settings(args))
    if args.json:
        print_json(report.to_json())
    else:
        print_table([f.as_row() for f in report.findings], ["status", "check", "subject", "detail"])
        for f in report.findings:
            if f.advice:
                print(f"\n{f.status}: {f.check}, {f.subject}")
                for line in f.advice:
                    print(f"  - {line}")
    return EXIT_FAILED if report.needs_action else EXIT_OK


def add(sub: Any) -> None:
    d = sub.add_parser("doctor", help="what answers here, and whether this machine's servers are safe to expose")
    d.add_argument("--ports", type=ports, help="ports to look at (default: the usual ones of each server kind)")
    d.add_argument("--json", action="store_true", help="one JSON array of findings, each with its advice")
    d.set_defaults(func=doctor)
