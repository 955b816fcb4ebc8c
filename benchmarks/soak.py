"""Soak: 2,000 calls over a chain whose primary cycles through every fault, nothing lost and nothing leaked.

    .venv/bin/python benchmarks/soak.py [--calls 2000] [--block 25]
    .venv/bin/python benchmarks/soak.py --keepalive 0.05      # pauses around a uvicorn server's keep-alive

The primary changes every ``--block`` calls to the next misbehaving loopback server from the fault kit
(refused, blackholed, hung, dripping headers or body, 5xx, 429, redirects, garbage, nested JSON, 300 MB-style
floods, gzip bombs, cut and endless streams, lone surrogates, flaky); the secondary is a healthy stub. Every
fourth call streams. Each call must come back answered (text, a finish reason); anything else is "lost".
File descriptors and threads are counted after a warm-up and again after the providers are closed, and peak
memory (max RSS) is reported. Goal (benchmarks/README.md): 0 lost, 0 leaked fds and threads, bounded memory.

With ``--keepalive S`` it runs instead 2,000 calls over a chain whose primary is a healthy uvicorn server (as vLLM,
llama-cpp-python and LiteLLM's proxy are) with a keep-alive of S seconds, each call after a pause of 0.9 S to 1.1 S,
beside the same run with the kit's stale-connection retry turned off (the anchor): calls sent to the secondary
over a healthy primary (goal 0), lost (0), leaked connections (0), and the retry's median cost (goal < 1 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import random
import resource
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nxs_lab as nx
from nxs_lab.testing import Fault, fault_process, foreign

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


@contextlib.contextmanager
def uvicorn_stub(keepalive: float) -> Iterator[str]:
    """The uvicorn-served stub (``_uvicorn_stub.py``) with a keep-alive of ``keepalive`` seconds; yields its base_url."""
    port = foreign.free_port()
    stub = Path(__file__).with_name("_uvicorn_stub.py")
    with foreign.running(
        [sys.executable, str(stub), str(port), str(keepalive)], f"http://127.0.0.1:{port}", "stub"
    ) as url:
        yield url


def keepalive_run(calls: int, keepalive: float, log_path: Path, retries: int) -> dict[str, float]:
    """``calls`` chats through a chain of the uvicorn stub (primary) and a healthy fault-kit stub, each after a pause
    spread around the primary's keep-alive (0.9 to 1.1 times it): how many went to the secondary over a healthy
    primary, how many were lost, and what a request sent again on a fresh connection cost (the request log)."""
    from nxs_lab.client import _allowance

    saved, _allowance.STALE_RETRIES = _allowance.STALE_RETRIES, retries  # 0: the kit before the retry (the anchor)
    rng = random.Random(7)
    log = nx.RequestLog(log_path)
    try:
        with uvicorn_stub(keepalive) as primary, fault_process(Fault.OK) as secondary:
            providers = [nx.Provider(name="primary", base_url=primary, model="stub-model"),
                         nx.Provider(name="secondary", base_url=secondary, model="stub-model")]  # fmt: skip
            fds0, threads0 = fds(), threading.active_count()
            elsewhere = lost = 0
            with nx.FallbackChain(providers, log=log) as chain:
                for _ in range(calls):
                    time.sleep(keepalive * rng.uniform(0.9, 1.1))
                    try:
                        r = chain.chat(MESSAGES, max_tokens=4)
                    except nx.NxsLabError:
                        lost += 1
                        continue
                    elsewhere += r.provider != "primary"
            gc.collect()
            leaked_fds, leaked_threads = fds() - fds0, threading.active_count() - threads0
    finally:
        _allowance.STALE_RETRIES = saved
        log.close()
    ok = [ln for ln in log.read() if ln["provider"] == "primary" and ln["outcome"] == "ok"]
    resent = [ln["elapsed_ms"] for ln in ok if ln.get("resent_on_fresh_connection")]
    clean = [ln["elapsed_ms"] for ln in ok if not ln.get("resent_on_fresh_connection")]
    cost = statistics.median(resent) - statistics.median(clean) if resent and clean else float("nan")
    return {"calls": calls, "elsewhere": elsewhere, "lost": lost, "resent": len(resent), "retry_cost_ms": cost,
            "leaked_fds": leaked_fds, "leaked_threads": leaked_threads}  # fmt: skip


def keepalive_main(calls: int, keepalive: float) -> int:
    import tempfile

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, retries in (("the kit", _stale_retries()), ("no retry (the anchor)", 0)):
            rows[name] = keepalive_run(calls, keepalive, Path(tmp) / f"{retries}.jsonl", retries)
            print(f"{name:>22}: " + "  ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                               for k, v in rows[name].items()))  # fmt: skip
    kit, anchor = rows["the kit"], rows["no retry (the anchor)"]
    print(
        f"summary: {calls} calls paused around a {keepalive * 1000:.0f} ms keep-alive: {kit['elsewhere']} sent to the "
        f"secondary over a healthy primary (without the retry {anchor['elsewhere']}), {kit['lost']} lost, "
        f"{kit['resent']} sent again at a median cost of {kit['retry_cost_ms']:.2f} ms, leaked fds "
        f"{kit['leaked_fds']}, threads {kit['leaked_threads']}"
    )
    return 0 if kit["elsewhere"] == 0 and kit["lost"] == 0 else 1


def _stale_retries() -> int:
    from nxs_lab.client._allowance import STALE_RETRIES

    return STALE_RETRIES


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--block", type=int, default=25, help="calls before the primary moves to the next fault")
    ap.add_argument("--keepalive", type=float, default=None,
                    help="instead: pause around a uvicorn server's keep-alive of this many seconds (e.g. 0.05)")  # fmt: skip
    args = ap.parse_args()
    if args.keepalive is not None:
        return keepalive_main(args.calls, args.keepalive)
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
