"""Provenance on every answer: the real server's kind and build, the model and its quantization, the window it runs
with and where that figure came from, the base URL without credentials, the kit's version and the time; against
the real embedded server and llama.cpp's llama-server, for chats and streams; evaluate says when an endpoint's
server changed during a run or since the stored one."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.evaluation.report import Evaluation
from nxs_lab.testing import FaultServer

from .standins import OLLAMA

USER = [{"role": "user", "content": "Say hi."}]


def test_the_embedded_servers_answers_say_where_they_came_from(local_server: nx.LocalServer) -> None:
    with local_server.provider() as p:
        chat = p.chat(USER, max_tokens=4)
        stream = p.stream(USER, max_tokens=4)
        stream.collect()
    for result in (chat, stream.result):
        prov = result.provenance
        assert prov is not None and prov.server_kind == "llama-cpp-python"
        assert prov.context_window == local_server.n_ctx and prov.window_source != "unknown"
        assert prov.model == result.model and prov.base_url == local_server.base_url and prov.kit_version
    assert "where it came from" in chat._repr_html_() and chat.to_dict()["provenance"]["server_kind"]


def test_llama_servers_answers_name_its_build_quantization_and_window(llama_server: str) -> None:
    with nx.Provider(name="llama", base_url=llama_server) as p:
        result = p.chat(USER, max_tokens=4)
    prov = result.provenance
    assert prov is not None and prov.server_kind == "llama.cpp" and prov.server_version  # its build_info
    assert prov.quantization == "Q4_1" and prov.context_window and prov.window_source.startswith("server:")


def test_credentials_never_reach_the_provenance() -> None:
    with FaultServer(routes=OLLAMA) as srv:
        url = srv.base_url.replace("http://", "http://alice:s3cret@")
        with nx.Provider(name="o", base_url=url, model="llama3.2:3b") as p:
            prov = p.chat(USER).provenance
    assert prov is not None and "s3cret" not in repr(prov) and "alice" not in prov.base_url
    assert (prov.server_kind, prov.quantization, prov.context_window) == ("ollama", "Q4_K_M", 8192)


def _row(endpoint: str, server: str, quant: str, window: int) -> dict:
    return {"endpoint": endpoint, "task": "t", "category": "", "repetition": 0, "ok": True, "error": None,
            "score": 1.0, "latency_s": 0.1, "ttft_s": 0.05, "tok_per_s": 10.0, "prompt_tokens": 5,
            "completion_tokens": 2, "cost": 0.0, "server": server, "quantization": quant, "window": window}  # fmt: skip


def test_evaluate_says_when_an_endpoint_changed_during_a_run_or_since_the_stored_one(tmp_path: Path) -> None:
    swapped = [_row("local", "llama.cpp b6500", "Q4_K_M", 4096), _row("local", "lmstudio 0.4.1", "Q8_0", 32768)]
    with pytest.warns(RuntimeWarning, match="local changed during the run"):
        ev = Evaluation(swapped, ["local"])
    assert "⚠" in ev.summary()["served by"][0] and "mix" in ev._repr_html_()
    history = tmp_path / "history.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Evaluation([_row("local", "llama.cpp b6500", "Q4_K_M", 4096)], ["local"]).append_history(history)
    later = Evaluation([_row("local", "llama.cpp b6500", "Q8_0", 4096)], ["local"])
    with pytest.warns(RuntimeWarning, match="not what it was in the stored run"):
        later.append_history(history)
    assert later.drift and len(history.read_text().splitlines()) == 2
