"""Every runbook through `nxs-lab run` with non-default parameters, against an embedded server that demands a
key; then every saved notebook is scanned for that key. The key must never be written down."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.cli import main

pytestmark = [pytest.mark.server, pytest.mark.timeout(900)]

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KEY_VAR = "NXS_TEST_RUNBOOK_KEY"


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[tuple[nx.LocalServer, str]]:
    key = "sk-nxs-test-" + secrets.token_hex(16)
    with nx.LocalServer(api_key=key, n_ctx=2048) as srv:
        yield srv, key


def _params(srv: nx.LocalServer, tmp: Path) -> dict[str, dict[str, object]]:
    url = srv.base_url
    return {
        "00_quickstart.ipynb": {
            "base_url": url,
            "api_key_env": KEY_VAR,
            "prompt": "Say two words.",
            "max_tokens": 8,
            "embed_texts": ["one", "two"],
        },
        "01_discovery.ipynb": {"hosts": ["127.0.0.1"], "ports": [srv.port], "timeout": 0.5, "start_embedded": False},
        "02_fallback_drill.ipynb": {
            "secondary_url": url,
            "api_key_env": KEY_VAR,
            "calls": 2,
            "scenarios": ["healthy", "primary down"],
            "max_tokens": 4,
        },
        "03_context_budget.ipynb": {"base_url": url, "api_key_env": KEY_VAR, "history_turns": 12, "fit_max_tokens": 16},
        "04_tool_calling.ipynb": {"base_url": url, "api_key_env": KEY_VAR, "max_rounds": 1, "max_tokens": 32},
        "05_quantization.ipynb": {
            "quant_types": ["Q8_0"],
            "repetitions": 1,
            "ram_gb": 2,
            "out_dir": str(tmp / "variants"),
        },
        "06_local_vs_cloud.ipynb": {
            "endpoints": [
                {"name": "keyed", "base_url": url, "api_key_env": KEY_VAR},
                {"name": "dead", "base_url": "http://127.0.0.1:9/v1", "model": "m"},  # refused: errors counted
            ],
            "categories": ["arithmetic"],
            "max_tokens": 16,
            "prices": {"keyed": [1.0, 2.0]},
        },
        "demo.ipynb": {"base_url": url, "api_key_env": KEY_VAR},
    }


def test_every_runbook_is_covered(keyed_server, tmp_path: Path) -> None:
    assert set(_params(keyed_server[0], tmp_path)) == {p.name for p in NOTEBOOKS.glob("*.ipynb")}


@pytest.mark.parametrize(
    "name",
    [
        "00_quickstart.ipynb",
        "01_discovery.ipynb",
        "02_fallback_drill.ipynb",
        "03_context_budget.ipynb",
        "04_tool_calling.ipynb",
        "05_quantization.ipynb",
        "06_local_vs_cloud.ipynb",
        "demo.ipynb",
    ],
)
def test_runbook_runs_and_keeps_no_secret(
    name: str, keyed_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    srv, key = keyed_server
    monkeypatch.setenv(KEY_VAR, key)
    args = ["run", str(NOTEBOOKS / name), "--runs-dir", str(tmp_path / "runs"), "-q"]
    for k, v in _params(srv, tmp_path)[name].items():
        args += ["-p", k, v if isinstance(v, str) else json.dumps(v)]
    code = main(args)
    out = capsys.readouterr()
    assert code == 0, out.err
    produced = list((tmp_path / "runs").glob(f"*/{name}"))
    assert len(produced) == 1 and f"output: {produced[0]}" in out.out
    saved = produced[0].read_text()
    assert key not in saved
    assert key[-12:] not in saved  # not even a tail of it
    outputs = [o for c in json.loads(saved)["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    if name == "06_local_vs_cloud.ipynb":  # nxs-lab run gave it the runs folder: its history is kept there
        (line,) = (tmp_path / "runs" / "local_vs_cloud_history.jsonl").read_text().splitlines()
        row = json.loads(line)
        assert row["dead.errors"] == 6 and row["keyed.errors"] == 0 and 0 <= row["keyed.score"] <= 1
