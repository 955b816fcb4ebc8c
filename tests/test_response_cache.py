"""The response cache against real servers: a rerun answered from the cache says so, keeps the original call's
figures and sends nothing; a model swapped behind the same name misses (the key holds what the server really is);
only deterministic requests are cached unless "always"; a corrupt cache file costs a warning and a fresh cache;
two processes writing at once lose nothing; no key ends up in the file."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab.client.cache import ResponseCache
from nxs_lab.config import LabConfig
from nxs_lab.testing import FaultServer

from .standins import OLLAMA

USER = [{"role": "user", "content": "Name a colour."}]


def test_a_rerun_is_answered_from_the_cache_and_says_so(local_server: nx.LocalServer, tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    with local_server.provider(cache=cache) as p:
        first = p.chat(USER, max_tokens=8, temperature=0)
        counters = local_server.prompt_counters()
        again = p.chat(USER, max_tokens=8, temperature=0)
        assert local_server.prompt_counters() == counters  # the server was not asked again
        varied = p.chat(USER, max_tokens=8, temperature=0.7)  # not deterministic: asked, not cached
    assert not first.cached and again.cached and not varied.cached
    assert (again.text, again.usage, again.provenance.model) == (first.text, first.usage, first.provenance.model)
    assert again.cached_from["latency_s"] == first.latency_s and again.latency_s < first.latency_s
    assert cache.info()["answers"] == 1


def test_a_model_swapped_behind_the_same_name_misses(tmp_path: Path) -> None:
    """The same server address and model name, another quantization behind it: the key holds what the server says
    it serves, so the swapped model is asked, never answered for by the old one."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    q8 = {**OLLAMA, "/api/tags": {"models": [{**OLLAMA["/api/tags"]["models"][0],
                                                "details": {"quantization_level": "Q8_0"}}]}}  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seen = []
    for routes in (OLLAMA, OLLAMA, q8):
        with FaultServer(routes=routes, port_request=port) as srv:
            with nx.Provider(name="o", base_url=srv.base_url, model="llama3.2:3b", cache=cache) as p:
                result = p.chat(USER, temperature=0)
            asked = "messages" in srv.last_body  # the last POST was a chat (not the kind's probes)
            seen.append((result.cached, asked, result.provenance.quantization))
    assert seen == [(False, True, "Q4_K_M"), (True, False, "Q4_K_M"), (False, True, "Q8_0")]


def test_the_same_server_again_is_a_hit_and_always_caches_everything(tmp_path: Path) -> None:
    with FaultServer() as srv:
        with nx.Provider(name="a", base_url=srv.base_url, model="stub-model", cache=tmp_path / "c.sqlite") as p:
            p.chat(USER, seed=7)
            calls = srv.calls
            assert p.chat(USER, seed=7).cached and srv.calls == calls
            assert not p.chat(USER).cached  # no temperature 0, no seed: not cached
        always = ResponseCache(tmp_path / "always.sqlite")
        with nx.Provider(name="b", base_url=srv.base_url, model="stub-model", cache=always) as p:
            p.cache_always = True
            p.chat(USER)
            assert p.chat(USER).cached


def test_a_corrupt_cache_file_costs_a_warning_and_a_fresh_cache(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with FaultServer() as srv, nx.Provider(name="a", base_url=srv.base_url, model="stub-model",
                                           cache=ResponseCache(path)) as p:  # fmt: skip
        with pytest.warns(RuntimeWarning, match="cannot be read"):
            first = p.chat(USER, temperature=0)
        assert first.text and not first.cached and p.chat(USER, temperature=0).cached
    assert list(tmp_path.glob("c.sqlite.unreadable-*"))  # the bad file kept beside the fresh one


_WRITER = """
import sys
from nxs_lab.client.cache import ResponseCache
from nxs_lab.config import LabConfig
cache = ResponseCache(sys.argv[1])
for i in range(200):
    cache.put(f"{sys.argv[2]}-{i}", {"text": str(i)})
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    ResponseCache(path).info()  # made once, in WAL mode
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name]) for name in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    cache = ResponseCache(path)
    assert cache.info()["answers"] == 400 and cache.get("a-199") == {"text": "199"}


def test_no_key_ends_up_in_the_cache(tmp_path: Path) -> None:
    key = "sk-cache-test-secret-0123456789"
    path = tmp_path / "c.sqlite"
    with FaultServer() as srv, nx.Provider(name="a", base_url=srv.base_url, model="stub-model", api_key=key,
                                           cache=path) as p:  # fmt: skip
        p.chat(USER, temperature=0)
    ResponseCache.at(path).close()
    assert key.encode() not in b"".join(f.read_bytes() for f in tmp_path.iterdir() if f.is_file())


def test_the_command_line_says_what_the_cache_holds_and_clears_it(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    ResponseCache(path).put("k", {"text": "x"})
    info = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "cache", "info", "--path", str(path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    cleared = subprocess.run([sys.executable, "-m", "nxs_lab.cli", "cache", "clear", "--path", str(path)],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert info.returncode == 0 and "answers" in info.stdout and " 1" in info.stdout
    assert cleared.returncode == 0 and "1 answer" in cleared.stdout and ResponseCache(path).info()["answers"] == 0


def test_evaluate_scores_cached_answers_but_never_times_or_prices_them(tmp_path: Path) -> None:
    tasks = [{"id": "tool", "input": "What do my notes say?", "target": "stub answer", "tools": ["search_memory"]}]
    with FaultServer() as srv, nx.Provider(name="a", base_url=srv.base_url, model="stub-model",
                                           cache=tmp_path / "c.sqlite") as p:  # fmt: skip
        cold = nx.evaluate(p, tasks, progress=False, prices={"a": (1.0, 1.0)})
        warm = nx.evaluate(p, tasks, progress=False, prices={"a": (1.0, 1.0)})
    assert [r["from_cache"] for r in cold.records] == [False] and [r["from_cache"] for r in warm.records] == [True]
    assert warm.records[0]["score"] == cold.records[0]["score"] and warm.records[0]["cost"] == 0.0
    assert (
        warm.summary()["from cache"][0] == 1 and warm.figures("a")["latency_s"][0] != warm.figures("a")["latency_s"][0]
    )


def test_the_settings_cache_table_and_a_providers_own_choice(tmp_path: Path) -> None:
    with FaultServer() as a, FaultServer() as b:
        path = tmp_path / "config.toml"
        path.write_text(
            f'[cache]\nrequests = "deterministic"\npath = "{tmp_path / "c.sqlite"}"\nmax_age_days = 2\n\n'
            f'[[providers]]\nname = "a"\nbase_url = "{a.base_url}"\nmodel = "stub-model"\npriority = 1\n\n'
            f'[[providers]]\nname = "b"\nbase_url = "{b.base_url}"\nmodel = "stub-model"\npriority = 2\ncache = "off"\n'
        )
        cfg = LabConfig.load(path)
        with nx.FallbackChain.from_config(cfg, fit=True) as chain:
            first, again = chain.chat(USER, temperature=0), chain.chat(USER, temperature=0)
            assert not first.cached and again.cached and again.provider == "a"
            assert chain.provider("b").cache is None and chain.provider("a").cache.max_age_s == 2 * 86400
    with pytest.raises(nx.ConfigError, match="requests"):
        bad = tmp_path / "bad.toml"
        bad.write_text('[cache]\nrequests = "sometimes"\n')
        LabConfig.load(bad)


def test_a_cached_stream_replays_at_once_and_a_chain_and_evaluate_use_it(tmp_path: Path) -> None:
    with FaultServer() as srv:
        with nx.Provider(name="a", base_url=srv.base_url, model="stub-model", cache=tmp_path / "c.sqlite") as p:
            first = p.stream(USER, temperature=0).collect()
            asked = srv.calls
            again = p.stream(USER, temperature=0)
            replayed = "".join(again)
            assert srv.calls == asked and again.result.cached and replayed == first.text
            via_chain = nx.FallbackChain([p]).stream(USER, temperature=0).collect()
            assert via_chain.cached and srv.calls == asked
            tasks = [{"id": "t", "input": "Name a colour.", "target": "stub answer"}]
            cold, warm = (nx.evaluate(p, tasks, progress=False) for _ in range(2))
    assert [r["from_cache"] for r in cold.records] == [False] and [r["from_cache"] for r in warm.records] == [True]


def test_an_async_cached_stream_too(tmp_path: Path) -> None:
    import asyncio

    async def run(url: str) -> tuple[bool, bool]:
        async with nx.AsyncProvider(name="a", base_url=url, model="stub-model", cache=tmp_path / "c.sqlite") as p:
            first = await (await p.stream(USER, seed=1)).collect()
            again = await p.stream(USER, seed=1)
            text = "".join([d async for d in again])
            return first.cached, again.result.cached and text == first.text

    with FaultServer() as srv:
        assert asyncio.run(run(srv.base_url)) == (False, True)


def test_the_cache_keeps_to_its_limits(tmp_path: Path) -> None:
    small = ResponseCache(tmp_path / "small.sqlite", max_entries=3)
    for i in range(5):
        small.put(f"k{i}", {"text": str(i)})
    assert small.info()["answers"] == 3 and small.get("k0") is None and small.get("k4") == {"text": "4"}
    with pytest.raises(ValueError, match="max_entries"):
        ResponseCache(tmp_path / "bad.sqlite", max_entries=0)


_ASK_AND_EXIT = """
import sys
import nxs_lab as nx
p = nx.Provider(name="a", base_url=sys.argv[1], model="stub-model", cache=sys.argv[2])
print(p.chat([{"role": "user", "content": "Name a colour."}], temperature=0).cached)
"""  # no close: the process ends right after its call


def test_an_answer_is_stored_behind_the_call_and_kept_when_the_process_ends(tmp_path: Path) -> None:
    """The store is written by a writer thread, not the call: a lookup sees an answer still waiting, another
    connection to the file sees it once flushed, and a process that exits right after its call keeps it."""
    path = tmp_path / "c.sqlite"
    with FaultServer() as srv:
        with nx.Provider(name="a", base_url=srv.base_url, model="stub-model", cache=ResponseCache(path)) as p:
            first = p.chat(USER, temperature=0)
            assert p.chat(USER, temperature=0).cached  # seen at once, written or not
            p.cache.flush()
            other = ResponseCache(path)  # its own connection, as another process has
            assert other.info()["answers"] == 1
        ran = subprocess.run([sys.executable, "-c", _ASK_AND_EXIT, srv.base_url, str(tmp_path / "exit.sqlite")],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ran.returncode == 0 and ran.stdout.strip() == "False", ran.stderr
    assert ResponseCache(tmp_path / "exit.sqlite").info()["answers"] == 1  # written at exit
    again = ResponseCache(path)
    (key,) = [k for (k,) in again._run(lambda db: db.execute("SELECT key FROM answers").fetchall())]
    assert again.get(key)["text"] == first.text
