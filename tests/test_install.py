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


def test_the_core_needs_no_data_stack() -> None:
    """pandas, matplotlib, numpy, tqdm and gguf are the ``data`` extra: the core's own requirements leave them out,
    importing the kit and making a Provider touch none of them, and a call that needs one names the extra."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    stack = {"pandas", "matplotlib", "numpy", "tqdm", "gguf"}
    core = {re.split(r"[<>=\[ ]", r, maxsplit=1)[0].lower() for r in project["dependencies"]}
    assert not core & stack
    assert {re.split(r"[<>=]", r, maxsplit=1)[0] for r in project["optional-dependencies"]["data"]} == stack
    assert "nxs_lab[data]" in project["optional-dependencies"]["notebooks"]
    code = (
        "import sys\n"
        "for m in ('pandas', 'matplotlib', 'numpy', 'tqdm', 'gguf'):\n"
        "    sys.modules[m] = None  # as if not installed: importing it raises ModuleNotFoundError\n"
        "import nxs_lab as nx\n"
        "p = nx.Provider(name='p', base_url='http://127.0.0.1:9/v1', model='m')\n"
        "nx.FallbackChain([p]); nx.ContextBudget(4096, 512); nx.EstimateCounter().count_text('hi')\n"
        "eps = nx.Endpoints([], [], 0, 0.0)\n"
        "try:\n"
        "    eps.to_dataframe()\n"
        "except nx.MissingDependency as exc:\n"
        "    print('missing', exc.module, exc.extra)\n"
        "print(sorted(m for m in ('pandas', 'matplotlib', 'numpy', 'tqdm', 'gguf') if sys.modules.get(m)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["missing pandas data", "[]"]


def test_discovery_and_child_servers_do_without_posix_only_calls() -> None:
    """What Windows lacks (``resource``, ``os.killpg``) is not needed: the scan bounds its sockets without the
    rlimit, and a child server is stopped through its own handle. Run here with both taken away."""
    code = (
        "import os, subprocess, sys\n"
        "sys.modules['resource'] = None\n"
        "del os.killpg\n"
        "from nxs_lab.discovery.scan import open_file_limit\n"
        "from nxs_lab._process import stop_process\n"
        "import nxs_lab as nx\n"
        "eps = nx.discover(['127.0.0.1'], [9], timeout=0.2, progress=False)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "stop_process(child)\n"
        "print(open_file_limit(), len(eps), child.returncode is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["512", "0", "True"]
