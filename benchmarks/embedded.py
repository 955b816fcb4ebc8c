"""The embedded server's speed quiet and beside one busy process, for its default and the settings it was chosen
from, against llama.cpp's own llama-server on the same model and threads.

    NXS_LAB_LLAMA_SERVER=~/.cache/nxs-lab/llama-server-*/llama-server .venv/bin/python benchmarks/embedded.py

Each setting serves the bundled SmolLM2 model; each measurement streams a 48-token answer three times (after a
warm-up) and reports generation tokens/s and time to first token, first on a quiet machine, then while another
process spins one core (what JupyterLab, a browser or the kernel do on a laptop). A stream that does not finish in
60 s counts as stalled. The goal: beside the busy process, at least 60 % of the quiet speed and no stall, with the
quiet speed within 15 % of the best setting's.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator

import nxs_lab as nx
from nxs_lab.config import Timeouts
from nxs_lab.testing import foreign

PROMPT = [{"role": "user", "content": "Write four lines about a river in spring."}]
TOKENS = 48
RUNS = 3
LIMIT = Timeouts(connect=2, first_byte=60, idle=60, stream_total=60)

# (label, threads, OpenMP environment of the server process; an empty value unsets the variable, and with neither
# variable set the kit's launcher waits PASSIVE)
SETTINGS: list[tuple[str, int | None, dict[str, str]]] = [
    ("kit default (all cores, OpenMP PASSIVE)", None, {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": ""}),
    # libgomp's default: spin 300,000 times, then sleep (what the kit ran with before)
    ("2 threads, spin 300k (libgomp default, before)", 2, {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": "300000"}),
    ("2 threads, spinning (ACTIVE)", 2, {"OMP_WAIT_POLICY": "ACTIVE"}),
    ("2 threads, spin 1k", 2, {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": "1000"}),
    ("2 threads, spin 50k", 2, {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": "50000"}),
    ("1 thread, PASSIVE", 1, {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": ""}),
]
DEFAULT = SETTINGS[0][0]
ONLY = set(sys.argv[1:])  # labels to run (all when none given)


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Another process keeping one core busy for as long as the block runs."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def measure(url: str, key: str | None = None) -> tuple[float | None, float | None]:
    """Median generation tokens/s and time to first token (s) over RUNS streams; ``(None, None)`` on a stall."""
    speeds, ttfts = [], []
    with nx.Provider(name="bench", base_url=url, api_key=key, timeouts=LIMIT) as p:
        p.chat(PROMPT, max_tokens=4, temperature=0)  # warm-up: model pages in, caches fill
        for _ in range(RUNS):
            s = p.stream(PROMPT, max_tokens=TOKENS, temperature=0)
            try:
                r = s.collect()
            except nx.ProviderError:
                return None, None
            generated = r.usage.completion_tokens or TOKENS
            assert r.ttft_s is not None
            speeds.append((generated - 1) / max(r.latency_s - r.ttft_s, 1e-6))
            ttfts.append(r.ttft_s)
    return statistics.median(speeds), statistics.median(ttfts)


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` for the server processes started inside the block (an empty value: the variable unset)."""
    before = {k: os.environ.get(k) for k in env}
    for k, v in env.items():
        if v:
            os.environ[k] = v
        else:
            os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, old in before.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


def both(
    url: str, key: str | None = None
) -> tuple[tuple[float | None, float | None], tuple[float | None, float | None]]:
    quiet = measure(url, key)
    with busy_core():
        busy = measure(url, key)
    return quiet, busy


def fmt(speed: float | None, ttft: float | None) -> str:
    return "   stalled          " if speed is None or ttft is None else f"{speed:7.1f} t/s {ttft * 1000:6.0f} ms"


def main() -> None:
    rows: dict[str, tuple[tuple[float | None, float | None], tuple[float | None, float | None]]] = {}
    for label, threads, env in SETTINGS:
        if ONLY and label not in ONLY and label != DEFAULT:
            continue
        with environment(env), nx.LocalServer(n_threads=threads, embedding=False) as srv:
            rows[label] = both(srv.base_url, srv.api_key.get_secret_value() if srv.api_key else None)
    if foreign.llama_server_binary() is not None and not ONLY:
        for threads in (2, 1):
            with foreign.llama_server(2048, threads=threads) as url:
                rows[f"llama-server -t {threads} (anchor)"] = both(url)
    print(f"{'setting':<40}{'quiet: speed, first token':>28}{'one busy core: speed, first token':>36}{'kept':>7}")
    for label, (quiet, busy) in rows.items():
        kept = f"{100 * busy[0] / quiet[0]:5.0f}%" if quiet[0] and busy[0] else "    -"
        print(f"{label:<40}{fmt(*quiet):>28}{fmt(*busy):>36}{kept:>7}")
    best = max(q[0] for label, (q, _) in rows.items() if q[0] is not None and "anchor" not in label)
    (dq, _), (db, _) = rows[DEFAULT]
    verdict = "meets" if dq is not None and db is not None and db >= 0.6 * dq and dq >= 0.85 * best else "misses"
    print(
        f"summary: the kit's default generates {dq or 0:.1f} t/s quiet and {db or 0:.1f} t/s beside a busy core "
        f"({100 * (db or 0) / (dq or 1):.0f}% kept; the fastest embedded setting quiet: {best:.1f} t/s): it {verdict} the goal "
        "(>= 60% kept, never stalled, quiet within 15% of the best)"
    )


if __name__ == "__main__":
    main()
