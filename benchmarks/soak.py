"""Soak: 2,000 calls over a chain whose primary cycles through every fault, nothing lost and nothing leaked.

    .venv/bin/python benchmarks/soak.py [--calls 2000] [--block 25]

The primary changes every ``--block`` calls to the next misbehaving loopback server from the fault kit
(refused, blackholed, hung, dripping headers or body, 5xx, 429, redirects, garbage, nested JSON, 300 MB-style
floods, gzip bombs, cut and endless streams, lone surrogates, flaky); the secondary is a healthy stub. Every
fourth call streams. Each call must come back answered (text, a finish reason); anything else is "lost".
File descriptors and threads are counted after a warm-up and again after the providers are closed, and peak
memory (max RSS) is reported. Goal (benchmarks/README.md): 0 lost, 0 leaked fds and threads, bounded memory.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import resource
import sys
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nxs_lab as nx
from nxs_lab.testing import Fault, fault_process

MiB = 2**20
MESSAGES = [{"role": "user", "content": "hi"}]
# Each fault runs in a process of its own (fault_process), so the fds, threads and memory counted here are the
# kit's alone: a hung server-side handler holding its socket would otherwise count as a leak.
FAULTS: list[tuple[Fault, list[str]]] = [
    (Fault.REFUSE, []),
    (Fault.BLACKHOLE, []),
    (Fault.HANG, []),
    (Fault.DRIP, ["--drip-interval", "0.05"]),
    (Fault.BODY_DRIP, ["--drip-interval", "0.05"]),
    (Fault.STATUS, ["--status", "500"]),
    (Fault.STATUS, ["--status", "503", "--retry-after", "0"]),
    (Fault.STATUS, ["--status", "429", "--retry-after", "0"]),
    (Fault.REDIRECT, ["--status", "302"]),
    (Fault.STATUS, ["--status", "407"]),
    (Fault.MALFORMED_JSON, []),
    (Fault.HTML_200, []),
    (Fault.NESTED_JSON, []),
    (Fault.HUGE_BODY, ["--huge-bytes", str(8 * MiB)]),
    (Fault.HUGE_ERROR, ["--huge-bytes", str(8 * MiB)]),
    (Fault.GZIP_BOMB, ["--huge-bytes", str(64 * MiB)]),
    (Fault.SSE_CUT, ["--cut-after", "0"]),
    (Fault.ENDLESS_STREAM, ["--chunk-interval", "0.01"]),
    (Fault.LONE_SURROGATE, []),
    (Fault.FLAKY, ["--status", "500", "--fail-times", "3"]),
]
TIMEOUTS = nx.Timeouts(connect=0.3, first_byte=0.5, idle=0.5, total=1.0, stream_total=1.0)


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def answered(result: nx.ChatResult | None) -> bool:
    return result is not None and result.finish_reason is not None and bool(result.text)


def soak(calls: int, block: int, log_path: Path) -> dict[str, float]:
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(fault_process(mode, *args)) for mode, args in FAULTS]
        secondary = stack.enter_context(fault_process(Fault.OK))
        return _run(urls, secondary, calls, block, log_path)


def _run(urls: list[str], secondary: str, calls: int, block: int, log_path: Path) -> dict[str, float]:
    log = nx.RequestLog(log_path)
    try:
        primaries = [
            nx.Provider(name=f"primary-{i}", base_url=url, model="m", timeouts=TIMEOUTS, max_response_bytes=MiB)
            for i, url in enumerate(urls)
        ]
        backup = nx.Provider(name="secondary", base_url=secondary, model="m", timeouts=TIMEOUTS)
        breaker = lambda _name: nx.CircuitBreaker(cooldown=0.2, max_cooldown=0.5)  # noqa: E731 - probes often
        # resume_streams: a stream cut after its first text goes on at the secondary instead of raising StreamInterrupted
        chains = [nx.FallbackChain([p, backup], breaker=breaker, log=log, resume_streams=True) for p in primaries]
        for chain in chains:  # warm-up: every pool and lazy import exists before the baseline
            chain.chat(MESSAGES)
            chain.stream(MESSAGES).collect()
        for p in [*primaries, backup]:  # the baseline and the end are both taken with every pool closed
            p.close()
        gc.collect()
        time.sleep(0.2)
        fds0, threads0, rss0 = fds(), threading.active_count(), peak_rss_mb()
        lost, t0 = 0, time.perf_counter()
        for i in range(calls):
            chain = chains[(i // block) % len(chains)]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    result = chain.stream(MESSAGES).collect() if i % 4 == 3 else chain.chat(MESSAGES)
            except nx.NxsLabError as exc:
                print(f"lost call {i} on {FAULTS[(i // block) % len(chains)][0].value}: {exc}", file=sys.stderr)
                result = None
            lost += not answered(result)
        seconds = time.perf_counter() - t0
        for p in [*primaries, backup]:
            p.close()
        gc.collect()
        time.sleep(0.2)  # connections the servers are closing on their side
        return {
            "calls": calls,
            "answered": calls - lost,
            "lost": lost,
            "leaked_fds": fds() - fds0,
            "leaked_threads": threading.active_count() - threads0,
            "peak_rss_mb": peak_rss_mb(),
            "rss_growth_mb": peak_rss_mb() - rss0,
            "seconds": seconds,
            "log_lines": len(log.read()),
        }
    finally:
        log.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--block", type=int, default=25, help="calls before the primary moves to the next fault")
    args = ap.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        r = soak(args.calls, args.block, Path(tmp) / "requests.jsonl")
    for key, value in r.items():
        print(f"{key:>15}: {value:.1f}" if isinstance(value, float) else f"{key:>15}: {value}")
    print(
        f"summary: soak {r['calls']} calls over {len(FAULTS)} faults: answered {r['answered']}, lost {r['lost']}, "
        f"leaked fds {r['leaked_fds']}, leaked threads {r['leaked_threads']}, peak RSS {r['peak_rss_mb']:.0f} MB "
        f"(+{r['rss_growth_mb']:.0f} MB over the run), {r['seconds']:.0f} s"
    )
    return 0 if r["lost"] == 0 and r["leaked_fds"] <= 0 and r["leaked_threads"] <= 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
