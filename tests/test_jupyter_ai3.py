"""@nxs in jupyter-ai 3.x, in a real jupyter-ai 3 installation (a venv of its own: scripts/install_jupyter_ai3.sh,
named by NXS_LAB_JUPYTER_AI3): the kit installed into it as pip installs it, its persona listed through jupyter-ai's
``jupyter_ai.personas`` entry points, and answering in a real jupyterlab-chat document through the configured
chain (failing over from a dead provider, streaming, saying who answered), or saying in the chat what to do when
nothing answers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import nxs_lab as nx

pytestmark = pytest.mark.timeout(300)

DRIVER = Path(__file__).parent / "jupyter_ai3_driver.py"


def _ask(python: str, env: dict[str, str], *questions: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NXS_LAB", "OPENAI_", "OLLAMA_"))}
    run = subprocess.run([python, str(DRIVER), *questions], env={**clean, **env}, capture_output=True, text=True,
                         timeout=240, cwd=str(Path(env.get("HOME", "/tmp"))))  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_persona_is_listed_and_answers_through_the_chain(
    jupyter_ai3: str, local_server: nx.LocalServer, refused_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[providers]]\nname = "dead"\nbase_url = "{refused_url}"\npriority = 1\n\n'
        f'[[providers]]\nname = "embedded"\nbase_url = "{local_server.base_url}"\npriority = 2\n'
    )
    said = _ask(jupyter_ai3, {"NXS_LAB_CONFIG": str(config), "HOME": str(tmp_path)}, "@nxs Name a colour.",
                "@nxs And another one?")  # fmt: skip
    assert "nxs" in said["listed"] and said["name"] == "nxs" and said["id"].endswith("NxsPersona")
    assert len(said["answers"]) == 2  # one message per question, each streamed into the chat
    for body in said["answers"]:
        answer, _, footer = body.partition("\n\n<sub>")
        assert answer.strip() and footer.startswith("embedded")  # who answered, under the answer
    assert "after dead" in said["answers"][0]  # the dead provider was tried first, and it says so
    assert "demonstration model" in said["answers"][0]


def test_with_nothing_to_answer_the_chat_says_what_to_do(jupyter_ai3: str, tmp_path: Path) -> None:
    said = _ask(jupyter_ai3, {"NXS_LAB_AUTO": "0", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)},
                "@nxs hi")  # fmt: skip
    (body,) = said["answers"]
    assert body.startswith("**nxs**: no server answers") and "next:" in body and "Traceback" not in body
