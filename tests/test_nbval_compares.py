"""nbval compares what the runbooks store: a runbook's deterministic cell keeps its output in the file, and a
changed output makes nbval fail (the check can fail, so it checks)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = ROOT / "nxs_lab" / "notebooks"


def _checked_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if "nbval-check-output" in c.get("metadata", {}).get("tags", [])]


def test_every_compared_cell_has_a_stored_output() -> None:
    """A compared cell stored unrun compares nothing (nbval skips it): each one keeps its output and count."""
    for path in sorted(RUNBOOKS.glob("*.ipynb")):
        cells = _checked_cells(json.loads(path.read_text(encoding="utf-8")))
        assert cells, f"{path.name} compares no output"
        for c in cells:
            assert c["execution_count"] is not None and c["outputs"], f"{path.name}: {''.join(c['source'])[:60]}"


def _budget_notebook(tmp: Path, stored_change: tuple[str, str] | None) -> Path:
    """03_context_budget's parameters and its budget-arithmetic cell (stored output and all), with nothing that
    needs a server; ``stored_change`` edits the stored output."""
    nb = json.loads((RUNBOOKS / "03_context_budget.ipynb").read_text(encoding="utf-8"))
    params = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    arithmetic = next(c for c in _checked_cells(nb) if "arithmetic()" in "".join(c["source"]))
    imports = {**copy.deepcopy(params), "source": ["import nxs_lab as nx"], "metadata": {}, "id": "imports"}
    cell = copy.deepcopy(arithmetic)
    if stored_change is not None:
        old, new = stored_change
        text = json.dumps(cell["outputs"])
        assert old in text
        cell["outputs"] = json.loads(text.replace(old, new))
    nb["cells"] = [params, imports, cell]
    path = tmp / "budget.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def _nbval(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--nbval-lax", "-p", "no:cacheprovider", str(path)],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_nbval_fails_on_a_changed_stored_output(tmp_path: Path) -> None:
    same = _nbval(_budget_notebook(tmp_path, None))
    assert same.returncode == 0, same.stdout[-2000:]
    changed = _nbval(_budget_notebook(tmp_path, ("= 3584 input tokens", "= 3585 input tokens")))
    assert changed.returncode != 0
    assert "3585" in changed.stdout and "3584" in changed.stdout  # the stored line beside the computed one
