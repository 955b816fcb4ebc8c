"""Binder without Docker: its environment agrees with pyproject.toml, and postBuild and start really run."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from nxs_lab.testing import Fault, FaultServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _name(req: str) -> tuple[str, str | None]:
    m = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(?:>=\s*([\w.]+))?", req.strip())
    assert m, req
    return m.group(1).lower().replace("_", "-"), m.group(2)


def _env_requirements(path: Path) -> dict[str, str | None]:
    env = yaml.safe_load(path.read_text())
    out: dict[str, str | None] = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e") or item.startswith("python=") or item == "pip":
                continue
            name, bound = _name(item)
            out[name] = bound
    return out


@pytest.mark.parametrize("env_file", ["environment.yml", "binder/environment.yml"])
def test_environment_matches_pyproject(env_file: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = [
        req
        for req in [*project["dependencies"], *(r for e in ("data", "server", "tools", "notebooks") for r in extras[e])]
        if not req.startswith("nxs_lab[")  # an extra that includes another: its requirements are listed already
    ]
    env = _env_requirements(ROOT / env_file)
    for req in wanted:
        name, bound = _name(req)
        assert name in env, f"{env_file} lacks {name} (pyproject.toml needs it)"
        assert env[name] == bound, f"{env_file}: {name} >= {env[name]}, pyproject.toml >= {bound}"


def test_binder_files_agree_with_each_other() -> None:
    assert _env_requirements(ROOT / "environment.yml") == _env_requirements(ROOT / "binder" / "environment.yml")


@pytest.mark.server
def test_postbuild_runs() -> None:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    out = subprocess.run(
        ["bash", str(ROOT / "binder" / "postBuild")], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    assert "nxs_lab 0.1.0" in out.stdout and "SmolLM2" in out.stdout


@pytest.mark.server
@pytest.mark.timeout(180)
def test_start_brings_up_the_embedded_server_and_hands_over() -> None:
    port = FaultServer(Fault.REFUSE).start().port  # a free port number
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "NXS_LAB_PORT": str(port)}
    check = (
        "import os, nxs_lab as nx; url = os.environ['NXS_LAB_EMBEDDED_URL']; "
        "print('handed over', url, nx.Provider(base_url=url).health().ok)"
    )
    proc = subprocess.Popen(
        ["bash", str(ROOT / "binder" / "start"), sys.executable, "-c", check],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=150)
    finally:
        with contextlib.suppress(ProcessLookupError):  # already gone with its session
            os.killpg(proc.pid, signal.SIGTERM)  # the background nxs-lab serve; its server follows it
    assert proc.returncode == 0, err
    assert f"handed over http://127.0.0.1:{port}/v1 True" in out
