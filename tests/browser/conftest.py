"""A real JupyterLab and a real Chromium for panel tests (Debian's /usr/bin/chromium, driven by Playwright).

JupyterLab gets fresh state folders per session, token auth on 127.0.0.1, and settings that stop its news
popup and kernel dialog. Screenshots land in test-artifacts/ at the project root.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Lab:
    def __init__(self, url: str, token: str, root: Path) -> None:
        self.url, self.token, self.root = url, token, root

    def write_notebook(self, name: str, cells: list[str]) -> str:
        nb = {
            "cells": [
                {
                    "cell_type": "code",
                    "metadata": {},
                    "source": c,
                    "outputs": [],
                    "execution_count": None,
                    "id": f"c{i}",
                }
                for i, c in enumerate(cells)
            ],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (self.root / name).write_text(json.dumps(nb))
        return name


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    with running_lab(tmp_path_factory.mktemp("jupyterlab"), Path(sys.executable).parent / "jupyter") as started:
        yield started


def _fresh_state(base: Path, env: dict[str, str]) -> None:
    """JupyterLab's state folders, new for this run, and the settings that stop its news popup and kernel dialog."""
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("IPYTHONDIR", "ipython"),
    ]:
        (base / sub).mkdir()
        env[var] = str(base / sub)
    settings = base / "settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"autoStartDefaultKernel": True})
    )


@contextmanager
def running_lab(
    base: Path, jupyter: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[Lab]:
    """JupyterLab from ``jupyter`` (an environment's own command), on a free loopback port with a token, its root
    and state folders under ``base``, with ``env`` for its environment (this process's by default); stopped when
    the block ends."""
    root = base / "root"
    root.mkdir()
    env = dict(os.environ if env is None else env)
    _fresh_state(base, env)
    token, port = secrets.token_hex(16), _free_port()
    log = open(base / "lab.log", "wb")  # noqa: SIM115 - closed below
    command = [str(jupyter), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.news_url=None", *args]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_lab(proc, f"{url}/api/status?token={token}", base / "lab.log")
        yield Lab(url, token, root)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _wait_for_lab(proc: subprocess.Popen, status: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx2.get(status, timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass  # not listening yet
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail("JupyterLab did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.25)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # Module scope: Playwright's sync API keeps an event loop running on this thread while it is open,
    # and any later asyncio.run() in the same process would fail. It closes when the module is done.
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, lab: Lab, request: pytest.FixtureRequest) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    pg.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    shutil.rmtree(lab.root / ".ipynb_checkpoints", ignore_errors=True)
    # A panel that threw in the browser, or JupyterLab complaining about one, fails the test that showed it.
    assert errors == [], "\n".join(errors)


def open_and_run_all(page, lab: Lab, notebook: str) -> None:
    """Open ``notebook`` in JupyterLab, wait for the kernel, run every cell, and fail on widget errors."""
    page.goto(f"{lab.url}/lab/tree/{notebook}?reset&token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_selector(
        '.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]:visible', timeout=60_000
    )
    started = page.locator(".jp-NotebookPanel .jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    for _ in range(3):  # a menu clicked while the lab is still settling can be lost: check, and try again
        page.locator(".jp-NotebookPanel .jp-Cell").first.click()  # focus the notebook
        page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
        page.locator(".lm-Menu-itemLabel:visible:text-is('Run All Cells')").click()
        try:
            started.first.wait_for(timeout=15_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError("Run All Cells did not start the notebook")


def assert_no_widget_errors(page) -> None:
    text = page.locator(".jp-NotebookPanel").inner_text()
    assert "Error displaying widget" not in text and "Loading widget" not in text, text[-2000:]
    assert "Traceback" not in text, text[-2000:]
