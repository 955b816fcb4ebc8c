"""Time to first token through the kit, beside the server alone, on the embedded server.

    .venv/bin/python benchmarks/ttft.py [--runs 30]

"The server alone" is a raw httpx2 streaming request read up to its first content chunk; the kit is
Provider.stream and FallbackChain.stream reading their first delta. Called in a shuffled order each round, so
drift and position hit all alike. Goal (benchmarks/README.md): the kit adds <= 2 % to the server's time to first token.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import httpx2

import nxs_lab as nx

# A prompt long enough that prompt processing dominates, as in real use (about 80 tokens).
NOTES = "Here are some notes about rivers and the sea. " * 6 + "Name a colour."
_call = iter(range(10**9))


def messages() -> list[dict[str, str]]:
    # A fresh first token every call: llama-cpp-python reuses a cached prompt prefix, which would hide
    # the prompt processing that real first tokens wait for.
    return [{"role": "user", "content": f"Note {next(_call)}. {NOTES}"}]


def raw_ttft(client: httpx2.Client, url: str, model: str) -> float:
    payload = {"model": model, "messages": messages(), "stream": True, "max_tokens": 8}
    t0 = time.perf_counter()
    took = None
    with client.stream("POST", url + "/chat/completions", json=payload) as r:
        for line in r.iter_lines():  # read to the end, so the server is idle for the next contender
            if (
                took is None
                and line.startswith("data: ")
                and line != "data: [DONE]"
                and json.loads(line[6:])["choices"][0]["delta"].get("content")
            ):
                took = time.perf_counter() - t0
    if took is None:
        raise RuntimeError("the stream produced no content")
    return took


def sdk_ttft(sdk, model: str) -> float:
    t0 = time.perf_counter()
    took = None
    for chunk in sdk.chat.completions.create(model=model, messages=messages(), max_tokens=8, stream=True):
        if took is None and chunk.choices and chunk.choices[0].delta.content:
            took = time.perf_counter() - t0
    if took is None:
        raise RuntimeError("the stream produced no content")
    return took


def kit_ttft(streamable) -> float:
    t0 = time.perf_counter()
    s = streamable.stream(messages(), max_tokens=8)
    it = iter(s)
    next(it)
    took = time.perf_counter() - t0
    for _ in it:  # drain, so the server is idle for the next contender
        pass
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with nx.LocalServer(n_ctx=512, embedding=False) as srv:
        client = httpx2.Client(timeout=60)
        p = srv.provider()
        chain = nx.FallbackChain([srv.provider(name="chain")])
        import openai

        sdk = openai.OpenAI(base_url=srv.base_url, api_key="bench", max_retries=0)
        contenders = {
            "server alone (raw httpx2)": lambda: raw_ttft(client, srv.base_url, srv.chat_alias),
            "openai SDK stream": lambda: sdk_ttft(sdk, srv.chat_alias),
            "nxs_lab Provider.stream": lambda: kit_ttft(p),
            "nxs_lab FallbackChain.stream": lambda: kit_ttft(chain),
        }
        for fn in contenders.values():
            for _ in range(3):
                fn()
        samples: dict[str, list[float]] = {k: [] for k in contenders}
        order = list(contenders)
        rng = random.Random(7)
        for _ in range(args.runs):
            rng.shuffle(order)  # no contender always follows the same one: no position bias
            for name in order:
                time.sleep(0.05)  # let the server finish its bookkeeping from the previous request
                samples[name].append(contenders[name]())
    med = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    base = med["server alone (raw httpx2)"]
    for name, ms in med.items():
        print(f"{name:<32} {ms:8.2f} ms  {100 * (ms - base) / base:+6.2f} %")
    kit = max(med["nxs_lab Provider.stream"], med["nxs_lab FallbackChain.stream"])
    worst = 100 * (kit - base) / base
    verdict = "meets" if worst <= 2 else "misses"
    print(
        f"summary: time to first token {base:.1f} ms from the server alone; the kit adds {kit - base:+.2f} ms "
        f"({worst:+.2f} %; {verdict} the 2 % goal), the openai SDK alone {med['openai SDK stream'] - base:+.2f} ms"
    )


if __name__ == "__main__":
    main()
