"""Runbooks: papermill-parameterized notebooks, executed into a timestamped runs folder."""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._html import kv_table
from .errors import MissingDependency, RunbookFailed

__all__ = ["RUNBOOKS", "RunbookFailed", "RunbookResult", "find_runbook", "parse_parameter", "run_runbook"]

# The runbooks that ship with the kit (``./notebooks`` in a checkout links here).
RUNBOOKS = Path(__file__).with_name("notebooks")


def find_runbook(name: str | os.PathLike[str]) -> Path:
    """A runbook by path, or by name among the kit's own: ``"quickstart"``, ``"00_quickstart"``, ``"00"``,
    ``"demo"``.

    >>> find_runbook("quickstart").name
    '00_quickstart.ipynb'
    """
    path = Path(name)
    if path.is_file():
        return path
    key = path.name.removesuffix(".ipynb")
    shipped = sorted(RUNBOOKS.glob("*.ipynb"))
    for nb in shipped:
        number, _, title = nb.stem.partition("_")
        if key in (nb.stem, title or nb.stem) or (key == number and title):
            return nb
    names = ", ".join(nb.stem.partition("_")[2] or nb.stem for nb in shipped)
    raise FileNotFoundError(f"no runbook at {path}, and none of the kit's is called {key!r} (they are: {names})")


@dataclass(frozen=True, slots=True)
class RunbookResult:
    runbook: str
    output_path: Path
    parameters: dict[str, Any]
    seconds: float

    def _repr_html_(self) -> str:
        return kv_table(
            f"runbook {self.runbook}", {"output": self.output_path, "seconds": self.seconds, **self.parameters}
        )


def parse_parameter(text: str) -> Any:
    """``-p NAME VALUE`` values: JSON scalars, lists and objects, ``None``; anything else stays a string."""
    if text in ("None", "none", "null"):
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return json.loads(text)
    except ValueError:
        return text


def run_runbook(
    runbook: str | os.PathLike[str],
    parameters: dict[str, Any] | None = None,
    *,
    runs_dir: str | os.PathLike[str] = "runs",
    kernel_name: str | None = None,
    progress: bool = True,
    timeout: float | None = None,
) -> RunbookResult:
    """Execute ``runbook`` (a path, or a shipped runbook's name: see :func:`find_runbook`) with papermill into
    ``runs_dir/<UTC time>-<name>/<name>.ipynb``.

    A runbook whose parameters include ``runs_dir`` is given this one (where it keeps a history across runs).
    Raises :class:`RunbookFailed` naming the failing cell; the executed notebook is kept either way.
    """
    try:
        import papermill as pm
        from papermill.exceptions import PapermillExecutionError
    except ImportError:
        raise MissingDependency("papermill", "notebooks") from None
    src = find_runbook(runbook)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    out_dir = Path(runs_dir) / f"{stamp}-{src.stem}"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / src.name
    params = dict(parameters or {})
    if "runs_dir" in pm.inspect_notebook(str(src)) and "runs_dir" not in params:
        params["runs_dir"] = str(Path(runs_dir).resolve())  # a runbook that keeps a history keeps it here
    t0 = _dt.datetime.now(_dt.UTC)
    try:
        pm.execute_notebook(
            str(src),
            str(out),
            parameters=params,
            kernel_name=kernel_name,
            progress_bar=progress,
            cwd=str(out_dir.resolve()),  # whatever a runbook writes lands beside its executed copy
            execution_timeout=timeout,
        )
    except PapermillExecutionError as exc:
        raise RunbookFailed(src.name, exc.cell_index, f"{exc.ename}: {exc.evalue}", out) from exc
    seconds = (_dt.datetime.now(_dt.UTC) - t0).total_seconds()
    return RunbookResult(src.name, out, params, seconds)
