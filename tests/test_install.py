"""The light install, as a user who already runs a server meets it: `scripts/quickstart.sh --base-url URL` in a
fresh copy of the project sets up a venv without the embedded server, the test tools or a browser, and runs the
quickstart runbook against that server to its end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nxs_lab as nx

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(900)


def _copy_project(dest: Path) -> None:
    """The checkout's files (committed or not, as git sees them), without its venv, runs or caches."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        src = ROOT / raw.decode()
        target = dest / raw.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(os.readlink(src))
        elif src.is_file():
            shutil.copy2(src, target)


def test_the_quickstart_installs_light_and_uses_a_running_server(local_server: nx.LocalServer, tmp_path) -> None:
    project = tmp_path / "nxs_lab"
    _copy_project(project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NXS_LAB", "VIRTUAL_ENV"))}
    env["PYTHON"] = sys.executable
    done = subprocess.run(
        ["bash", "scripts/quickstart.sh", "--base-url", local_server.base_url, "-p", "max_tokens", "8"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "installed (light)" in done.stdout
    out = re.search(r"^output: (.+\.ipynb)$", done.stdout, re.MULTILINE)
    assert out, done.stdout[-2000:]
    executed = json.loads((project / out.group(1)).read_text())
    outputs = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert outputs and not [o for o in outputs if o["output_type"] == "error"]
    python = project / ".venv" / "bin" / "python"
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    present = subprocess.run(
        [python, "-c", probe, "llama_cpp", "playwright", "pytest", "nxs_lab", "papermill"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert present == "['nxs_lab', 'papermill']"  # the kit and its runbooks; no compiler, tests or browser
