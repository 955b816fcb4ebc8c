"""First contact: with nothing configured, the command line answers through what is up on this machine (llama.cpp's
own llama-server on its usual port 8080), says which server it used and how to pin it, and `nxs-lab init` pins
it; with nothing up, each command says in two lines what was tried and what to do; a port that answers something
else, an unreachable OLLAMA_HOST and a bad NXS_LAB_AUTO are named. Real servers on real sockets."""

from __future__ import annotations

import json
import re
import socket
import tomllib
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.config import LabConfig
from nxs_lab.defaults import DEFAULT_PORTS
from nxs_lab.discovery import which
from nxs_lab.testing import Fault, FaultServer, foreign
from nxs_lab.userconfig import Settings

from .test_cli_shell import _env, _nxs

pytestmark = pytest.mark.timeout(300)

USUAL = 8080  # llama-server's own default port


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.mark.server
def test_with_llama_server_on_its_usual_port_and_nothing_configured_the_command_line_answers(home: Path) -> None:
    if foreign.llama_server_binary() is None:
        pytest.skip("llama-server is not built: bash scripts/build_llama_server.sh")
    if any(_listening(p) for p in DEFAULT_PORTS):
        pytest.skip("a server already listens on one of this machine's usual ports")
    env = _env(home, NXS_LAB_AUTO="scan")
    with foreign.llama_server(1024, port=USUAL):
        asked = _nxs(["ask", "--max-tokens", "8", "Say hi"], home, env)
        listed = _nxs(["models", "--json"], home, env)
        pinned = _nxs(["init"], home, env)
        again = _nxs(["init"], home, env)
        status = _nxs(["status", "--json", "--config", str(home / ".config/nxs-lab/config.toml")], home, env)
    assert asked.returncode == 0 and asked.stdout.strip(), asked.stderr
    said = [ln for ln in asked.stderr.splitlines() if ln.startswith("nxs-lab: using")]
    assert len(said) == 1 and f"127.0.0.1:{USUAL}/v1" in said[0] and "nxs-lab init" in said[0]
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["provider"], r["kind"], r["context"], r["quantization"]) for r in rows] == [
        ("llama.cpp", "chat", 1024, "Q4_1")  # the quantization from the GGUF file's name
    ]
    assert pinned.returncode == 0, pinned.stderr
    written = tomllib.loads((home / ".config/nxs-lab/config.toml").read_text())
    (provider,) = LabConfig.model_validate(written).providers
    assert provider.base_url == f"http://127.0.0.1:{USUAL}/v1" and provider.model == rows[0]["id"]
    assert again.returncode == 2 and "--force" in again.stderr  # an existing file is never overwritten silently
    assert status.returncode == 0, status.stderr  # --config after the command, as before it
    assert [(r["provider"], r["up"], r["from"].startswith("config file")) for r in json.loads(status.stdout)] == [
        ("llama.cpp", True, True)
    ]


def _run_in_a_kernel(cells: list[str], env: dict[str, str], cwd: Path, errors: bool = False) -> list[str]:
    """``cells`` run in a real IPython kernel started with ``env``; each cell's outputs as one text (HTML,
    Markdown or plain, as a notebook shows them, and an error's traceback as it shows it when ``errors``)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(nb, kernel_name="python3", timeout=240, allow_errors=errors)
    client.execute(env=env, cwd=str(cwd))
    shown = []
    for cell in nb.cells:
        parts = [o.get("text", "") for o in cell.outputs]
        parts += [str(v) for o in cell.outputs for k, v in o.get("data", {}).items() if k != "text/plain"]
        parts += ["\n".join(o.traceback) for o in cell.outputs if o.output_type == "error"]
        assert errors or not [o for o in cell.outputs if o.output_type == "error"], cell.outputs
        shown.append("\n".join(parts))
    return shown


@pytest.mark.server
def test_with_llama_server_on_its_usual_port_and_nothing_configured_the_magic_and_the_panel_answer(
    home: Path,
) -> None:
    """The notebook side of first contact, in real kernels: ``%%chat`` and ``ChatPanel()`` answer through the
    llama-server found on 8080, and the first of them to answer says which server it found and how to pin it."""
    if foreign.llama_server_binary() is None:
        pytest.skip("llama-server is not built: bash scripts/build_llama_server.sh")
    if any(_listening(p) for p in DEFAULT_PORTS):
        pytest.skip("a server already listens on one of this machine's usual ports")
    env = _env(home, NXS_LAB_AUTO="scan")
    panel = (
        "from nxs_lab.ui import ChatPanel\n"
        "panel = ChatPanel()\n"
        "panel.send('Say hi.')\n"
        "panel.wait(120)\n"
        "print('status:', panel.status.value)\n"
        "print('answered by:', panel.last_result.provider, '|', panel.view.messages[-1]['meta'])"
    )
    with foreign.llama_server(1024, port=USUAL):
        magic_first = _run_in_a_kernel(["%load_ext nxs_lab", "%%chat --max-tokens 8\nSay hi."], env, home)
        panel_first = _run_in_a_kernel([panel], env, home)
    found = f"127.0.0.1:{USUAL}/v1"
    said = magic_first[1]
    assert found in said and "nxs-lab init" in said  # what was found, and how to pin it, before the answer
    assert said.index(found) < said.index("llama.cpp ·")  # the footer under the answer names the server
    (shown,) = panel_first
    status, answered = shown.strip().splitlines()[-2:]
    assert found in status and "nxs-lab init" in status  # the status line still says it under the first answer
    assert answered.startswith("answered by: llama.cpp |") and "llama.cpp" in answered.split("|", 1)[1]


def test_with_nothing_up_each_command_says_in_two_lines_what_to_do(home: Path) -> None:
    if any(_listening(p) for p in DEFAULT_PORTS):
        pytest.skip("a server already listens on one of this machine's usual ports")
    env = _env(home, NXS_LAB_AUTO="scan")  # the embedded server is not asked: as where it is not installed
    for args in (["ask", "hi"], ["models"], ["status"], ["init"]):
        r = _nxs(args, home, env)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 2 and "no server answers" in lines[0] and "Traceback" not in r.stderr, (args, lines)
        assert lines[1].lstrip().startswith("next:") and "nxs-lab" in lines[1]


def test_with_nothing_up_the_magic_and_the_panel_say_in_two_lines_what_to_do(home: Path) -> None:
    """In a real kernel: ``%%chat`` and ``ChatPanel()`` with nothing up and the embedded server not asked (as where
    it is not installed) show two lines, what was tried and what to do, and no traceback."""
    if any(_listening(p) for p in DEFAULT_PORTS):
        pytest.skip("a server already listens on one of this machine's usual ports")
    cells = ["%load_ext nxs_lab", "%%chat\nSay hi.", "from nxs_lab.ui import ChatPanel\nChatPanel()"]
    _, magic, panel = _run_in_a_kernel(cells, _env(home, NXS_LAB_AUTO="scan"), home, errors=True)
    for shown in (magic, panel):
        lines = [ln for ln in re.sub(r"\x1b\[[0-9;]*m", "", shown).strip().splitlines() if ln.strip()]
        assert len(lines) == 2 and "no server answers" in lines[0] and "Traceback" not in shown, shown
        assert lines[1].lstrip().startswith("next:") and "nxs-lab" in lines[1]


def test_a_port_that_answers_something_else_is_not_taken_for_a_server() -> None:
    with FaultServer(Fault.HTML_200) as portal:  # a captive portal's page on every path
        port = int(portal.base_url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(nx.NoServer) as caught:
            which.resolved(Settings(LabConfig(), None), environ={"NXS_LAB_AUTO": "scan"}, ports=[port])
    assert f"ports {port}" in str(caught.value) and len(str(caught.value).splitlines()) == 2


def test_a_found_server_becomes_a_provider_and_is_said_with_how_to_pin_it() -> None:
    with FaultServer() as ok:  # a healthy OpenAI-compatible stub serving stub-model
        port = int(ok.base_url.rsplit(":", 1)[1].split("/")[0])
        found = which.resolved(Settings(LabConfig(), None), environ={"NXS_LAB_AUTO": "scan"}, ports=[port])
        (p,) = found.config.providers
        with nx.Provider(config=p) as provider:
            assert provider.chat([{"role": "user", "content": "hi"}]).text
    assert (p.base_url, p.model) == (ok.base_url, "stub-model")
    assert found.note is not None and ok.base_url in found.note and "nxs-lab init" in found.note
    assert found.origins[p.name].startswith("found on this machine")


def test_bad_input_is_named(home: Path) -> None:
    r = _nxs(["ask", "hi"], home, _env(home, NXS_LAB_AUTO="sometimes"))
    assert r.returncode == 2 and "NXS_LAB_AUTO" in r.stderr and "sometimes" in r.stderr
    unreachable = _nxs(["ask", "hi"], home, _env(home, OLLAMA_HOST="127.0.0.1:9", NXS_LAB_AUTO="0"))
    assert unreachable.returncode == 1 and "127.0.0.1:9" in unreachable.stderr and "Traceback" not in unreachable.stderr
    broken = home / "broken.toml"
    broken.write_text("[[providers]\nname = ")
    bad = _nxs(["models", "--config", str(broken)], home, _env(home))
    assert bad.returncode == 2 and str(broken) in bad.stderr and "not valid TOML" in bad.stderr


@pytest.mark.server
def test_the_embedded_server_answers_when_nothing_else_does_and_says_what_it_is() -> None:
    try:
        found = which.resolved(Settings(LabConfig(), None), environ={"NXS_LAB_AUTO": "embedded"})
        (p,) = found.config.providers
        with nx.Provider(config=p) as provider:
            assert provider.chat([{"role": "user", "content": "hi"}], max_tokens=4).text
        assert p.name == "embedded" and found.note is not None and "demonstration model" in found.note
        again = which.resolved(Settings(LabConfig(), None), environ={"NXS_LAB_AUTO": "embedded"})
        assert again.config.providers[0].base_url == p.base_url  # started once, kept for the process
    finally:
        which.forget()


def test_only_the_bundled_model_is_labelled_a_demonstration() -> None:
    """Wherever SmolLM2-135M answers (the embedded server's alias, or its GGUF file behind llama-server), its result
    says it is a demonstration model and how to point at a real one; any other model's does not."""
    for model in ("smollm2-135m-instruct", "/models/SmolLM2-135M-Instruct.Q4_1.gguf"):
        r = nx.ChatResult(text="L'Alma", provider="embedded", model=model)
        assert r.demo_model and "nxs-lab init" in r.trail()[-1] and "demonstration model" in r._repr_html_()
    other = nx.ChatResult(text="Paris", provider="lmstudio", model="qwen2.5-7b-instruct")
    assert not other.demo_model and not any("demonstration" in part for part in other.trail())
