"""Extra time before the secondary answers when the primary is refused, hung, or behind an open breaker.

    .venv/bin/python benchmarks/failover.py [--first-byte 1.0]

The secondary is a fast stub in its own process; the primary is a closed loopback port (refused) or a
stub that accepts and never answers (hung). Each contender's "extra" is its failover call minus its own
direct call to the secondary (median), so client overheads cancel. Anchors, in the same run: the openai
SDK with its defaults (try the primary, on error call the secondary) and LiteLLM's Router with the same
fallback (when litellm is installed). Goals (benchmarks/README.md): refused <= 5 ms; hung: first call <= first-byte
timeout + 20 ms; breaker open <= 1 ms.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from _timing import med_ms

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer, fault_process

MESSAGES = [{"role": "user", "content": "hi"}]
MODEL = "stub-model"


def nxs(primary_url: str, secondary_url: str, fb: float) -> tuple[nx.Provider, nx.Provider]:
    t = nx.Timeouts(connect=0.5, first_byte=fb, idle=fb)
    return (
        nx.Provider(name="primary", base_url=primary_url, model=MODEL, timeouts=t),
        nx.Provider(name="secondary", base_url=secondary_url, model=MODEL, timeouts=t),
    )


def bench_nxs(dead: str, hung: str, secondary: str, fb: float, n: int) -> dict[str, float]:
    p_dead, sec = nxs(dead, secondary, fb)
    p_hung, _ = nxs(hung, secondary, fb)
    for _ in range(20):
        sec.chat(MESSAGES)
    base = med_ms(lambda: sec.chat(MESSAGES), n)
    # Refused and hung: a fresh chain (fresh breakers) per call, over warm providers: every call pays the failure.
    refused = med_ms(lambda: nx.FallbackChain([p_dead, sec]).chat(MESSAGES), n)
    hung_first = med_ms(lambda: nx.FallbackChain([p_hung, sec]).chat(MESSAGES), 3)
    chain = nx.FallbackChain([p_dead, sec])
    chain.chat(MESSAGES)  # opens the breaker
    open_ = med_ms(lambda: chain.chat(MESSAGES), n)
    hung_chain = nx.FallbackChain([p_hung, sec], breaker=lambda _: nx.CircuitBreaker(threshold=1))
    hung_chain.chat(MESSAGES)
    hung_later = med_ms(lambda: hung_chain.chat(MESSAGES), n)
    return {
        "refused": refused - base,
        "hung (first call)": hung_first - base,
        "breaker open": open_ - base,
        "hung (later calls)": hung_later - base,
    }


def bench_sdk(dead: str, secondary: str, n: int) -> dict[str, float]:
    import openai

    primary = openai.OpenAI(base_url=dead, api_key="bench")  # defaults: 2 retries, 600 s timeout
    sec = openai.OpenAI(base_url=secondary, api_key="bench")

    def call() -> object:
        try:
            return primary.chat.completions.create(model=MODEL, messages=MESSAGES)
        except openai.APIConnectionError:
            return sec.chat.completions.create(model=MODEL, messages=MESSAGES)

    for _ in range(20):
        sec.chat.completions.create(model=MODEL, messages=MESSAGES)
    base = med_ms(lambda: sec.chat.completions.create(model=MODEL, messages=MESSAGES), n)
    return {"refused": med_ms(call, 3) - base}


def bench_litellm(dead: str, hung: str, secondary: str, fb: float, n: int) -> dict[str, float]:
    import litellm
    from litellm import Router

    litellm.suppress_debug_info = True
    logging.getLogger("LiteLLM").setLevel(logging.CRITICAL)
    logging.getLogger("LiteLLM Router").setLevel(logging.CRITICAL)

    def router(primary_url: str) -> Router:
        def entry(name: str, url: str) -> dict:
            return {
                "model_name": name,
                "litellm_params": {"model": f"openai/{MODEL}", "api_base": url, "api_key": "bench", "timeout": fb},
            }

        return Router(
            model_list=[entry("primary", primary_url), entry("secondary", secondary)],
            fallbacks=[{"primary": ["secondary"]}],
        )

    r_dead, r_hung = router(dead), router(hung)
    for _ in range(10):
        r_dead.completion(model="secondary", messages=MESSAGES)
    base = med_ms(lambda: r_dead.completion(model="secondary", messages=MESSAGES), n)
    refused = med_ms(lambda: r_dead.completion(model="primary", messages=MESSAGES), max(5, n // 4))
    hung_calls = med_ms(lambda: r_hung.completion(model="primary", messages=MESSAGES), 3)
    return {"refused": refused - base, "hung (later calls)": hung_calls - base}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--first-byte", type=float, default=1.0, help="first-byte timeout for the hung primary (s)")
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    fb = args.first_byte
    dead = FaultServer(Fault.REFUSE).start().base_url  # a closed port: nothing to stop
    with fault_process("ok") as secondary, fault_process("hang") as hung:
        rows = {"nxs_lab FallbackChain": bench_nxs(dead, hung, secondary, fb, args.calls)}
        rows["openai SDK, defaults"] = bench_sdk(dead, secondary, args.calls)
        if importlib.util.find_spec("litellm") is not None:
            rows["LiteLLM Router"] = bench_litellm(dead, hung, secondary, fb, args.calls)
    cols = ["refused", "hung (first call)", "hung (later calls)", "breaker open"]
    print(f"extra ms before the secondary answers (median; first-byte timeout {fb:g} s)")
    print(f"{'contender':<24}" + "".join(f"{c:>22}" for c in cols))
    for name, r in rows.items():
        cells = []
        for c in cols:
            if c in r:
                cells.append(f"{r[c]:>22.1f}")
            elif name.startswith("openai") and c.startswith("hung"):
                cells.append(f"{'~1,800,000 (not run)':>22}")  # 3 tries x 600 s
            else:
                cells.append(f"{'-':>22}")
        print(f"{name:<24}" + "".join(cells))
    if "LiteLLM Router" not in rows:
        print("LiteLLM Router: not installed, skipped (pip install litellm)")
    ours = rows["nxs_lab FallbackChain"]
    over = ours["hung (first call)"] - fb * 1000
    ok = ours["refused"] <= 5 and over <= 20 and ours["breaker open"] <= 1
    print(
        f"summary: refused {ours['refused']:+.1f} ms (goal 5), hung first call {over:+.1f} ms past the timeout "
        f"(goal 20), breaker open {ours['breaker open']:+.2f} ms (goal 1); openai SDK defaults refused "
        f"+{rows['openai SDK, defaults']['refused']:.0f} ms; " + ("meets the goals" if ok else "misses a goal")
    )


if __name__ == "__main__":
    main()
