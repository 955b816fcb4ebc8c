"""The quickstart runbook under papermill with non-default parameters, and the `nxs-lab run` command.

(nbval validates the same notebook with its defaults: the test command collects notebooks/ with --nbval-lax.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.cli import main
from nxs_lab.errors import RunbookFailed
from nxs_lab.runbooks import run_runbook

pytestmark = pytest.mark.server

RUNBOOK = Path(__file__).parent.parent / "notebooks" / "00_quickstart.ipynb"


def _outputs(nb_path: Path) -> list[dict]:
    nb = json.loads(nb_path.read_text())
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def _text(outputs: list[dict]) -> str:
    parts = []
    for o in outputs:
        parts.append("".join(o.get("text", "")))
        parts.append("".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_runbook_against_a_given_server(local_server: nx.LocalServer, tmp_path: Path) -> None:
    params = {
        "base_url": local_server.base_url,
        "model": local_server.chat_alias,
        "prompt": "List two fruits.",
        "max_tokens": 12,
        "embed_texts": ["apples", "pears"],
    }
    result = run_runbook(RUNBOOK, params, runs_dir=tmp_path, progress=False)
    assert result.output_path.exists() and result.output_path.parent.parent == tmp_path
    nb = json.loads(result.output_path.read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and local_server.base_url in "".join(injected[0]["source"])
    outputs = _outputs(result.output_path)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = _text(outputs)
    assert "5 checks passed" in text
    assert "2 vectors of 576 dimensions" in text  # the non-default embed_texts were used
    assert "ChatResult(" in text and "provider='quickstart'" in text


def test_cli_run_reports_the_failing_cell(refused_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(RUNBOOK), "-p", "base_url", refused_url, "--runs-dir", str(tmp_path), "-q"])
    assert code == 1
    err = capsys.readouterr().err
    assert "failed in cell" in err and "ConnectionFailed" in err
    kept = list(tmp_path.glob("*/00_quickstart.ipynb"))
    assert len(kept) == 1  # the executed notebook is kept for reading


def test_run_runbook_raises_with_cell_index(refused_url: str, tmp_path: Path) -> None:
    with pytest.raises(RunbookFailed) as info:
        run_runbook(RUNBOOK, {"base_url": refused_url}, runs_dir=tmp_path, progress=False)
    assert info.value.cell is not None and info.value.output_path.exists()
