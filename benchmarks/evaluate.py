"""The kit's overhead per evaluated call: nx.evaluate against the openai SDK streaming the same tasks in a loop.

    .venv/bin/python benchmarks/evaluate.py [--tasks 60] [--rounds 5]

Both ask the same tasks (the kit's arithmetic tasks, repeated to ``--tasks``) of one fast loopback stub running in
its own process (nxs_lab.testing.fault_process, mode OK: a 6-chunk stream), one call at a time. The SDK loop only
streams and reads the text; evaluate also times each answer, counts tokens, scores it and keeps the record.
Rounds alternate so drift hits both alike; the medians are compared. Goal (benchmarks/README.md): evaluate adds
at most 1 ms per call (measured here: +1.6 ms, missed).
"""

from __future__ import annotations

import argparse
import statistics
import time

import nxs_lab as nx
from nxs_lab.evaluation import shipped_tasks
from nxs_lab.testing import fault_process


def sdk_loop(base_url: str, tasks: list) -> float:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
    t0 = time.perf_counter()
    for task in tasks:
        stream = client.chat.completions.create(model="stub-model", messages=task.messages, stream=True, max_tokens=16)
        "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    return (time.perf_counter() - t0) / len(tasks)


def kit(base_url: str, tasks: list) -> float:
    provider = nx.Provider(name="stub", base_url=base_url, model="stub-model")
    t0 = time.perf_counter()
    ev = nx.evaluate({"stub": provider}, tasks, concurrency=1, max_tokens=16, progress=False)
    per_call = (time.perf_counter() - t0) / len(tasks)
    assert len(ev.records) == len(tasks) and all(r["ok"] for r in ev.records)
    return per_call


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    base = shipped_tasks(["arithmetic"])
    tasks = (base * (args.tasks // len(base) + 1))[: args.tasks]
    with fault_process("ok") as url:
        sdk_loop(url, tasks[:5]), kit(url, tasks[:5])  # warm up: imports, connections
        sdk, ours = [], []
        for _ in range(args.rounds):
            sdk.append(sdk_loop(url, tasks))
            ours.append(kit(url, tasks))
    s, k = statistics.median(sdk) * 1000, statistics.median(ours) * 1000
    print(f"{'contender':<28}{'ms per call (median of rounds)':>32}")
    print(f"{'openai SDK, streamed loop':<28}{s:>32.2f}")
    print(f"{'nx.evaluate':<28}{k:>32.2f}")
    print(f"summary: nx.evaluate {k:.2f} ms per call against the SDK loop's {s:.2f} ms: {k - s:+.2f} ms overhead")


if __name__ == "__main__":
    main()
