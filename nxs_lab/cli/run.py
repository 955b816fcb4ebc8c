"""``nxs-lab run``: a runbook into a timestamped runs folder, with papermill's ways of giving parameters."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MissingDependency
from ._common import EXIT_FAILED, settings


def _yaml(text: str, where: str) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        raise MissingDependency("pyyaml", "notebooks") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(where, [("", f"not valid YAML: {exc}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(where, [("", f"must be a mapping of parameter names to values, not {type(data).__name__}")])
    return data


def parameters(args: argparse.Namespace) -> dict[str, Any]:
    """papermill's order: ``-f`` file, then ``-y`` YAML, then each ``-p NAME VALUE`` (later ones win)."""
    from ..runbooks import parse_parameter

    params: dict[str, Any] = {}
    if args.parameters_file:
        path = Path(args.parameters_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(str(path), [("", f"cannot read: {exc.strerror}")]) from None
        params.update(_yaml(text, str(path)))
    if args.parameters_yaml:
        params.update(_yaml(args.parameters_yaml, "-y"))
    params.update({name: parse_parameter(value) for name, value in args.parameter or []})
    return params


def run(args: argparse.Namespace) -> int:
    from ..errors import RunbookFailed
    from ..runbooks import run_runbook

    runs_dir = args.runs_dir or settings(args).config.runs_dir  # NXS_LAB__RUNS_DIR and the config file count
    try:
        result = run_runbook(args.runbook, parameters(args), runs_dir=runs_dir, progress=not args.quiet)
    except RunbookFailed as exc:
        print(f"nxs-lab run: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"runbook {result.runbook} finished in {result.seconds:.1f} s")
    print(f"output: {result.output_path}")
    return 0


def add(sub: Any) -> None:
    r = sub.add_parser("run", help="run a runbook (a papermill notebook) into a timestamped runs folder")
    r.add_argument(
        "runbook",
        help="a path to an .ipynb, or a shipped runbook's name: quickstart, discovery, fallback_drill, "
        "context_budget, tool_calling, quantization, local_vs_cloud, demo (or its number: 00 … 06)",
    )
    r.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"))
    r.add_argument("-f", "--parameters-file", "--parameters_file", help="a YAML file of parameters (as papermill)")
    r.add_argument("-y", "--parameters-yaml", "--parameters_yaml", help="parameters as a YAML string (as papermill)")
    r.add_argument(
        "--runs-dir", help="where executed notebooks go (default: the config's runs_dir, NXS_LAB__RUNS_DIR, ./runs)"
    )
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=run)
