"""What the response cache costs and saves: a call answered from the cache against the same call sent to a fast
local stub (the anchor: no cache), side by side in one run; goal (benchmarks/README.md) a lookup of at most 0.5 ms.

    .venv/bin/python benchmarks/cache_lookup.py [--calls 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import med_ms

import nxs_lab as nx
from nxs_lab.client.cache import ResponseCache
from nxs_lab.testing import Fault, fault_process

USER = [{"role": "user", "content": "Name a colour."}]


def interleaved(a: Callable[[], object], b: Callable[[], object], n: int) -> tuple[float, float]:
    """The median milliseconds of ``a`` and of ``b`` over ``n`` calls each, called in turns."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(n):
        for which in (0, 1) if i % 2 else (1, 0):
            t0 = time.perf_counter()
            (a, b)[which]()
            times[which].append(time.perf_counter() - t0)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fault_process(Fault.OK) as url:
        plain = nx.Provider(name="plain", base_url=url, model="stub-model")
        cached = nx.Provider(
            name="cached", base_url=url, model="stub-model", cache=ResponseCache(Path(tmp) / "c.sqlite")
        )
        plain.chat(USER, temperature=0)
        cached.chat(USER, temperature=0)  # stored: every later call is a hit
        assert cached.chat(USER, temperature=0).cached
        sent = med_ms(lambda: plain.chat(USER, temperature=0), args.calls)
        hit = med_ms(lambda: cached.chat(USER, temperature=0), args.calls)
        lookup = statistics.median(cached.chat(USER, temperature=0).latency_s * 1000 for _ in range(args.calls))
        counter = iter(range(10**9))

        def fresh() -> list[dict[str, str]]:
            return [{"role": "user", "content": f"question {next(counter)}"}]

        # A new question each call, the two providers taking turns (and turns about who goes first), so drift and
        # the machine's other work hit both alike: sent with no cache, and looked up, missed, sent and stored.
        sent_new, missed = interleaved(
            lambda: plain.chat(fresh(), temperature=0), lambda: cached.chat(fresh(), temperature=0), args.calls
        )
        plain.close()
        cached.close()
    print(f"   sent to the stub (the anchor): median {sent:.2f} ms a call")
    print(f"  answered from the cache (whole call): median {hit:.2f} ms a call")
    print(f"       of which the lookup itself: median {lookup:.3f} ms")
    print(
        f"  a new question, no cache: median {sent_new:.2f} ms; with the cache (missed, sent, stored): {missed:.2f} ms"
    )
    print(
        f"summary: a hit costs {hit:.2f} ms a call against {sent:.2f} ms sent; a miss adds {missed - sent_new:.2f} ms"
        " to a call (goal <= 0.5 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
