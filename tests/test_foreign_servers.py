"""The kit against servers it did not write, run as their users start them: llama.cpp's own llama-server (``-c 1536``,
no embeddings) and a stock llama-cpp-python server (``n_ctx`` 1,024, publishes no window, returns one embedding
vector per token). Every runbook that talks to a server runs to its end against both; what a server cannot serve is
said in the notebook and passed over, never a failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import nxs_lab as nx
from nxs_lab.cli import main

from .chats import history
from .conftest import STOCK_CTX

pytestmark = pytest.mark.timeout(900)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


# ---------------------------------------------------------------- a stock llama-cpp-python server


@pytest.fixture
def stock(stock_server: str) -> Any:
    p = nx.Provider(name="stock", base_url=stock_server)
    yield p
    p.close()


def test_an_unknown_window_is_learned_from_the_overflow_and_the_request_refitted(stock: nx.Provider) -> None:
    """It publishes no window; its 400 says "maximum context length is 1024 tokens". The guard learns that, refits
    once, and the answer comes back; the window is remembered for the next call."""
    assert stock.context_window_info() == (None, "unknown")
    msgs = history(60)
    guard = nx.ContextGuard(stock)
    r = guard.chat(msgs, max_tokens=16)
    assert r.dropped_messages > 0 and r.usage.prompt_tokens is not None and r.usage.prompt_tokens + 16 <= STOCK_CTX
    assert stock.context_window_info() == (STOCK_CTX, "learned from the server's overflow error")
    again = guard.chat(msgs, max_tokens=16)  # fitted first time now: no refusal to learn from
    assert again.dropped_messages == r.dropped_messages and not again.prompt_truncated


def test_per_token_embeddings_are_mean_pooled_and_flagged(stock: nx.Provider) -> None:
    vectors = stock.embed(["a river", "a cat asleep on a mat"])
    assert vectors.pooled and len(vectors) == 2
    assert len(vectors[0]) == len(vectors[1]) > 100 and all(isinstance(x, float) for x in vectors[0])
    raw = stock.post_json("/v1/embeddings", {"input": ["a river"]})["data"][0]["embedding"]
    tokens = len(raw)
    assert tokens > 1 and isinstance(raw[0], list)  # what the server sent: one vector per token
    expected = [sum(col) / tokens for col in zip(*raw, strict=True)]
    assert vectors[0] == pytest.approx(expected, rel=1e-6)
    with pytest.raises(nx.InvalidResponse, match="one vector per token"):
        stock.embed(["a river"], pool=False)


# ------------------------------------------------------------------------------ runbooks


def _runbook_params(url: str) -> dict[str, dict[str, Any]]:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    return {
        "00_quickstart.ipynb": {"base_url": url, "max_tokens": 8, "embed_texts": ["one", "two"]},
        "01_discovery.ipynb": {"hosts": ["127.0.0.1"], "ports": [port], "timeout": 0.5, "start_embedded": False},
        "02_fallback_drill.ipynb": {
            "secondary_url": url,
            "calls": 2,
            "scenarios": ["healthy", "primary down"],
            "max_tokens": 4,
        },
        "03_context_budget.ipynb": {"base_url": url, "history_turns": 12, "fit_max_tokens": 16},
        "04_tool_calling.ipynb": {"base_url": url, "max_rounds": 1, "max_tokens": 32},
        "06_local_vs_cloud.ipynb": {
            "endpoints": [{"name": "foreign", "base_url": url}],
            "categories": ["arithmetic", "tools"],
            "max_tokens": 16,
        },
        "demo.ipynb": {"base_url": url},
    }


RUNBOOKS = sorted(_runbook_params("http://127.0.0.1:1/v1"))


def _run(name: str, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    args = ["run", str(NOTEBOOKS / name), "--runs-dir", str(tmp_path / "runs"), "-q"]
    for k, v in _runbook_params(url)[name].items():
        args += ["-p", k, v if isinstance(v, str) else json.dumps(v)]
    code = main(args)
    out = capsys.readouterr()
    assert code == 0, out.err[-3000:]
    (produced,) = list((tmp_path / "runs").glob(f"*/{name}"))
    cells = json.loads(produced.read_text())["cells"]
    assert not [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    return cells


def _printed(cells: list[dict[str, Any]]) -> str:
    return "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []) if o.get("name") == "stdout")


@pytest.mark.parametrize("name", RUNBOOKS)
def test_runbooks_run_to_the_end_against_llama_server(
    name: str, llama_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = _run(name, llama_server, tmp_path, capsys)
    if name == "00_quickstart.ipynb":  # started without --embeddings: the section says so and is passed over
        assert "skipped: this server does not serve embeddings" in _printed(cells)
    if name == "04_tool_calling.ipynb":  # SmolLM2's template has no tool calls, and llama-server says so in /props
        assert "cannot call tools" in _printed(cells)


@pytest.mark.parametrize("name", RUNBOOKS)
def test_runbooks_run_to_the_end_against_a_stock_llama_cpp_python_server(
    name: str, stock_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = _run(name, stock_server, tmp_path, capsys)
    if name == "00_quickstart.ipynb":
        assert "mean-pooled by the kit" in _printed(cells)
