"""@nxs in a real jupyter-ai 3 chat, in a real JupyterLab in Chromium: JupyterLab runs from jupyter-ai 3's own
venv (scripts/install_jupyter_ai3.sh) with the kit installed into it as pip installs it. A person opens a chat,
finds ``nxs`` among the chat's personas, types a question and presses Enter; the answer comes back into the chat
through the configured chain (a dead provider first, the real embedded server second), rendered as Markdown with
the line saying who answered under it, and a second question gets a second answer."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer

from .conftest import ARTIFACTS, CHROMIUM, Lab, running_lab

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.timeout(420)]

_FOREIGN = ("NXS_LAB", "OPENAI_", "OLLAMA_")  # the test's own settings must not reach the lab's kit


@pytest.fixture(scope="module")
def ai3_lab(jupyter_ai3: str, local_server: nx.LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    base = tmp_path_factory.mktemp("jupyter-ai3-lab")
    refused_url = FaultServer(Fault.REFUSE).start().base_url  # nothing listens there: connecting is refused
    config = base / "config.toml"
    config.write_text(
        f'[[providers]]\nname = "dead"\nbase_url = "{refused_url}"\npriority = 1\n\n'
        f'[[providers]]\nname = "embedded"\nbase_url = "{local_server.base_url}"\npriority = 2\n'
    )
    (base / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
    env.update(NXS_LAB_CONFIG=str(config), HOME=str(base / "home"), XDG_CONFIG_HOME=str(base / "home"))
    # jupyter-ai 3 brings an MCP server that takes port 3001 by default: a free port instead, so two runs never clash.
    args = ("--MCPExtensionApp.mcp_port=0",)
    with running_lab(base, Path(jupyter_ai3).parent / "jupyter", env=env, args=args) as lab:
        yield lab


def _ask(page, question: str, answers: int) -> str:
    """Type ``question`` in the chat's box, press Enter, and wait for the persona's ``answers``-th message to end
    with its footer line; returns that message's rendered text."""
    box = page.locator(".jp-chat-input-textfield textarea:visible").first
    box.fill(question)
    box.press("Enter")
    page.locator(".jp-chat-message", has_text=question).first.wait_for(timeout=30_000)
    done = page.locator(".jp-chat-message:has(.jp-chat-rendered-message sub)")
    done.nth(answers - 1).wait_for(timeout=180_000)
    return done.nth(answers - 1).inner_text()


def test_the_persona_answers_in_the_chat_ui(browser, ai3_lab: Lab, request: pytest.FixtureRequest) -> None:
    (ai3_lab.root / "ask.chat").write_text("{}")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    try:
        page.goto(f"{ai3_lab.url}/lab/tree/ask.chat?reset&token={ai3_lab.token}")
        page.locator(".jp-chat-input-textfield textarea:visible").first.wait_for(timeout=90_000)
        picker = page.locator(".jp-chat-input-toolbar button", has_text=re.compile(r"^\s*nxs\s*$"))
        picker.first.wait_for(timeout=60_000)  # jupyter-ai lists the persona under the box, by its name
        first = _ask(page, "@nxs Name a colour.", 1)
        header, _, body = first.partition("\n")
        assert "nxs" in header  # the message is the persona's own
        answer, _, footer = body.strip().rpartition("\n")
        assert answer.strip(), first  # an answer above the footer line (its words are the model's, not checked)
        assert footer.startswith("embedded") and "after dead" in footer, footer  # who answered, after what
        assert "demonstration model" in footer
        avatar = page.locator(".jp-chat-message img[alt='nxs']").first
        assert avatar.evaluate("img => img.complete && img.naturalWidth > 0")  # the kit's avatar is served
        second = _ask(page, "@nxs And another one?", 2)
        assert "embedded" in second.strip().rsplit("\n", 1)[-1]
        assert "Traceback" not in page.locator(".jp-chat-messages-container").inner_text()
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()
    assert errors == [], "\n".join(errors)
