"""Per-call overhead of Provider and FallbackChain over the raw openai SDK, against one fast local stub.

    .venv/bin/python benchmarks/overhead.py [--calls 400]

Contenders, called round-robin against the same loopback stub (nxs_lab.testing.faults, mode OK) so drift
hits all alike: raw httpx2 (the floor), the openai SDK (max_retries=0), nxs_lab.Provider,
nxs_lab.FallbackChain with one provider, and litellm.completion when litellm is installed
(`pip install litellm`; run offline with LITELLM_LOCAL_MODEL_COST_MAP=True, set here).
Goals (benchmarks/README.md): Provider <= SDK + 0.3 ms; FallbackChain <= SDK + 0.5 ms.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: no price-list download

import httpx2

import nxs_lab as nx
from nxs_lab.testing import fault_process

MESSAGES = [{"role": "user", "content": "hi"}]


def contenders(base_url: str, with_litellm: bool) -> dict[str, Callable[[], object]]:
    import openai

    http = httpx2.Client()
    sdk = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
    provider = nx.Provider(name="stub", base_url=base_url, model="stub-model")
    chain = nx.FallbackChain([nx.Provider(name="stub", base_url=base_url, model="stub-model")])
    payload = {"model": "stub-model", "messages": MESSAGES}
    out: dict[str, Callable[[], object]] = {
        "raw httpx2": lambda: http.post(base_url + "/chat/completions", json=payload).json(),
        "openai SDK": lambda: sdk.chat.completions.create(model="stub-model", messages=MESSAGES),
        "nxs_lab Provider": lambda: provider.chat(MESSAGES),
        "nxs_lab FallbackChain": lambda: chain.chat(MESSAGES),
    }
    if importlib.util.find_spec("litellm") is not None and with_litellm:
        import litellm

        out["litellm.completion"] = lambda: litellm.completion(
            model="openai/stub-model", api_base=base_url, api_key="bench", messages=MESSAGES, num_retries=0
        )
    return out


def measure(base_url: str, with_litellm: bool, calls: int, warmup: int) -> dict[str, float]:
    fns = contenders(base_url, with_litellm)
    if with_litellm:  # its own process: litellm's background threads would slow every contender beside it
        fns = {k: v for k, v in fns.items() if k in ("openai SDK", "litellm.completion")}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(calls):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) * 1000 for name, s in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--litellm-at", help=argparse.SUPPRESS)  # internal: the litellm phase, in a child
    args = parser.parse_args()
    if args.litellm_at:
        med = measure(args.litellm_at, True, args.calls, args.warmup)
        print(med.get("litellm.completion", float("nan")), med["openai SDK"])
        return
    with fault_process("ok") as base_url:
        med = measure(base_url, False, args.calls, args.warmup)
        lite = None
        if importlib.util.find_spec("litellm") is not None:
            out = subprocess.run(
                [sys.executable, __file__, "--litellm-at", base_url, "--calls", str(args.calls)],
                capture_output=True,
                text=True,
                check=True,
            )
            lite = [float(x) for x in out.stdout.split()[-2:]]
    sdk = med["openai SDK"]
    print(f"{'contender':<24} {'median ms':>10} {'vs SDK ms':>10}  (n={args.calls}, round-robin, same stub process)")
    for name, ms in med.items():
        print(f"{name:<24} {ms:>10.3f} {ms - sdk:>+10.3f}")
    if lite is None:
        print("litellm.completion       not installed, skipped (pip install litellm)")
    else:
        print(
            f"{'litellm.completion':<24} {lite[0]:>10.3f} {lite[0] - lite[1]:>+10.3f}  "
            f"(own process, beside the SDK at {lite[1]:.3f} ms)"
        )
    p, c = med["nxs_lab Provider"] - sdk, med["nxs_lab FallbackChain"] - sdk
    verdict = "meets" if p <= 0.3 and c <= 0.5 else "misses"
    print(
        f"summary: Provider {p:+.3f} ms and FallbackChain {c:+.3f} ms over the openai SDK ({sdk:.3f} ms/call); "
        f"{verdict} the goals (+0.3 / +0.5 ms)"
    )


if __name__ == "__main__":
    main()
