"""A long chat past the window: how much of each prompt the server evaluates again, by the server's own counters.

    .venv/bin/python benchmarks/long_chat.py                   # llama-server at 2,048 and 4,096, the embedded server
    .venv/bin/python benchmarks/long_chat.py --turns 24 --windows 2048 --servers llama-server

A chat of ``--turns`` turns (a user turn of about 100 prompt tokens, a scripted assistant reply of about 30, so every
way of fitting sends the same history), each answered for 16 tokens, streamed. Side by side on the same server, in
the same run:

* ``stable`` — the kit's default fit (``cut="stable"``), at each ``--low-water`` mark;
* ``minimal`` — the kit's fit that drops just enough every turn (``cut="minimal"``, the kit's behaviour before);
* ``trim_messages`` — the anchor: LiteLLM's ``trim_messages`` to the same input budget, run in LiteLLM's own
  environment (``NXS_LAB_LITELLM`` names its ``litellm`` command), sent through a plain Provider.

Figures, past the window (from the turn where the history first had to be cut):

* *again*: prompt tokens the server evaluated although they were already in the previous prompt (evaluated, from
  the server's counters, minus what the turn added), as a share of prompt tokens sent;
* *evaluated*: everything the server evaluated, as a share of what was sent (the new turns are in it);
* *prompt s*: the server's prompt time (llama-server's ``llamacpp:prompt_seconds_total``; for the embedded server,
  which has no such counter, the sum of times to first token);
* time to first token per turn, p50 and p90, and p50 before the window filled;
* the earlier turns kept on average, and requests refused for length.

The server's counters: llama-server's ``/metrics`` (``--metrics``) and each reply's ``timings``; the embedded
server's ``/nxs/metrics`` (what its llama.cpp evaluated against what it held).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nxs_lab as nx
from nxs_lab.testing import foreign

REPLY_TOKENS = 16
SYSTEM = {"role": "system", "content": "You are a patient assistant who discusses rivers, their geography and history."}
TOPICS = ("the Danube", "the Nile", "the Amazon", "the Mekong", "the Rhine", "the Volga", "the Yukon", "the Ganges")


def user_turn(i: int) -> dict[str, str]:
    """About 100 tokens, different on every turn."""
    river = TOPICS[i % len(TOPICS)]
    text = (
        f"Question {i}: I am reading about {river} and want to compare it with what we discussed before. "
        f"How long is it, which countries does it cross, and what are its main tributaries? Which cities along "
        f"{river} grew because of the river trade, and which dams changed its flow in the last century? "
        f"Please also mention one fact about its delta or mouth that most people do not know, turn {i}."
    )
    return {"role": "user", "content": text}


def reply(i: int) -> dict[str, str]:
    river = TOPICS[i % len(TOPICS)]
    return {"role": "assistant", "content": f"Answer {i}: {river} is long, crosses several countries and has many "
                                             "tributaries; its cities grew with trade."}  # fmt: skip


@dataclass
class Run:
    """One way of fitting, on one server: per turn what was sent and what the server did with it."""

    name: str
    sent: list[int] = field(default_factory=list)
    evaluated: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)  # what the turn added to the previous prompt (server's tokens)
    ttft: list[float] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)  # earlier turns sent
    cut: list[bool] = field(default_factory=list)  # the history had to be cut on this turn
    refused: int = 0
    prompt_s: float = 0.0

    def row(self) -> dict[str, Any]:
        past = [i for i, c in enumerate(self.cut) if c]
        first = past[0] if past else len(self.cut)
        past = list(range(first, len(self.sent)))
        sent = sum(self.sent[i] for i in past) or 1
        again = sum(max(0, self.evaluated[i] - self.added[i]) for i in past)
        before = self.ttft[1:first] or [float("nan")]
        after = [self.ttft[i] for i in past] or [float("nan")]
        return {
            "fit": self.name,
            "window filled at turn": first if past else None,
            "again %": round(100 * again / sent, 1),
            "evaluated %": round(100 * sum(self.evaluated[i] for i in past) / sent, 1),
            "prompt s": round(self.prompt_s, 1),
            "ttft p50 before ms": round(1000 * statistics.median(before)),
            "ttft p50 past ms": round(1000 * statistics.median(after)),
            "ttft p90 past ms": round(1000 * _p90(after)),
            "turns kept (avg)": round(statistics.mean([self.kept[i] for i in past]), 1) if past else None,
            "refused": self.refused,
        }


def _p90(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(0.9 * len(values)))]


class Trimmer:
    """LiteLLM's ``trim_messages``, in LiteLLM's own environment (one process for the whole run)."""

    CODE = (
        "import json, sys\n"
        "from litellm.utils import trim_messages\n"
        "for line in sys.stdin:\n"
        "    req = json.loads(line)\n"
        "    out = trim_messages(req['messages'], max_tokens=req['max_tokens'])\n"
        "    print(json.dumps(out), flush=True)\n"
    )

    def __init__(self, python: str) -> None:
        env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
        self.proc = subprocess.Popen([python, "-c", self.CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)  # fmt: skip

    def __call__(self, messages: list[dict], max_tokens: int) -> list[dict]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"messages": messages, "max_tokens": max_tokens}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("LiteLLM's trim_messages process ended")
        trimmed: list[dict] = json.loads(line)
        return trimmed

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def litellm_python() -> str | None:
    exe = os.environ.get("NXS_LAB_LITELLM", "")
    python = Path(exe).with_name("python")
    return str(python) if exe and python.exists() else None


@dataclass
class Server:
    """One server under test, and how to read what it evaluated (running totals: prompt tokens, evaluated, s)."""

    name: str
    base_url: str
    window: int
    counters: Callable[[], tuple[int, int, float]]


def llama_counters(base_url: str) -> Callable[[], tuple[int, int, float]]:
    def read() -> tuple[int, int, float]:
        m = foreign.llama_server_metrics(base_url)
        evaluated = m["llamacpp:prompt_tokens_total"]
        return (
            int(evaluated + m.get("llamacpp:prompt_tokens_cached_total", 0)),
            int(evaluated),
            m["llamacpp:prompt_seconds_total"],
        )

    return read


def embedded_counters(srv: nx.LocalServer) -> Callable[[], tuple[int, int, float]]:
    def read() -> tuple[int, int, float]:
        c = srv.prompt_counters().get(srv.chat_alias) or {}
        return c.get("prompt_tokens_total", 0), c.get("prompt_tokens_evaluated_total", 0), float("nan")

    return read


def chat(server: Server, name: str, send: Callable[[list[dict]], Any], turns: int, counter: nx.TokenCounter) -> Run:
    """The chat, turn by turn, fitted by ``send`` (which returns the stream, the messages sent and whether it cut)."""
    run, history = Run(name), [SYSTEM]
    _, _, s0 = server.counters()
    for i in range(turns):
        history.append(user_turn(i))
        before = server.counters()
        try:
            stream, sent, cut = send(list(history))
            for _ in stream:
                pass
        except nx.ContextOverflow:
            run.refused += 1
            history.append(reply(i))
            _record_refused(run)
            continue
        after = server.counters()
        appended = history[-2:] if i else history[-1:]
        run.sent.append(after[0] - before[0])
        run.evaluated.append(after[1] - before[1])
        run.added.append(counter.count_messages(appended).tokens)
        run.ttft.append(stream.result.ttft_s or stream.result.latency_s)
        run.kept.append(sum(1 for m in sent if m["role"] == "user") - 1)
        run.cut.append(cut)
        history.append(reply(i))
    run.prompt_s = server.counters()[2] - s0
    return run


def _record_refused(run: Run) -> None:
    for column in (run.sent, run.evaluated, run.added, run.kept):
        column.append(0)
    run.ttft.append(float("nan"))
    run.cut.append(True)


def fits(provider: nx.Provider, low_waters: list[float], trimmer: Trimmer | None) -> dict[str, Callable]:
    """Each way of fitting, as ``send(history) -> (stream, messages sent, whether it cut)``."""
    out: dict[str, Callable] = {}

    def guarded(guard: nx.ContextGuard) -> Callable:
        def send(history: list[dict]) -> tuple[Any, list[dict], bool]:
            stream = guard.stream(history, max_tokens=REPLY_TOKENS, temperature=0)
            assert stream.prepared is not None
            return stream, stream.prepared.messages, stream.prepared.dropped > 0

        return send

    for lw in low_waters:
        out[f"stable (low water {lw:g})"] = guarded(nx.ContextGuard(provider, cut="stable", low_water=lw))
    out["minimal (drop just enough)"] = guarded(nx.ContextGuard(provider, cut="minimal"))
    if trimmer is not None:
        budget, _ = nx.ContextGuard(provider).budget(REPLY_TOKENS)
        assert budget is not None

        def trimmed(history: list[dict]) -> tuple[Any, list[dict], bool]:
            sent = trimmer(history, budget.max_input_tokens)
            return provider.stream(sent, max_tokens=REPLY_TOKENS, temperature=0), sent, len(sent) < len(history)

        out["LiteLLM trim_messages (anchor)"] = trimmed
    return out


@contextlib.contextmanager
def servers(names: list[str], windows: list[int], reuse: int) -> Iterator[list[Server]]:
    with contextlib.ExitStack() as stack:
        found = []
        for w in windows:
            if "llama-server" in names and foreign.llama_server_binary() is not None:
                url = stack.enter_context(foreign.llama_server(w, cache_reuse=reuse or None))
                label = f"llama-server -c {w}" + (f" --cache-reuse {reuse}" if reuse else "")
                found.append(Server(label, url, w, llama_counters(url)))
            if "embedded" in names:
                srv = stack.enter_context(nx.LocalServer(n_ctx=w, embedding=False))
                found.append(Server(f"embedded n_ctx {w}", srv.base_url, w, embedded_counters(srv)))
        yield found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=48)
    ap.add_argument("--windows", default="2048,4096", help="runtime windows to run each server with")
    ap.add_argument("--servers", default="llama-server,embedded")
    ap.add_argument("--low-water", default="0.5", help="low-water marks of the stable fit to compare")
    ap.add_argument("--cache-reuse", type=int, default=0,
                    help="llama-server's --cache-reuse (0: off, llama-server's default; the suite starts it with 256)")  # fmt: skip
    args = ap.parse_args()
    low_waters = [float(x) for x in args.low_water.split(",")]
    windows = [int(x) for x in args.windows.split(",")]
    python = litellm_python()
    trimmer = Trimmer(python) if python else None
    if trimmer is None:
        print("LiteLLM is not installed (NXS_LAB_LITELLM): the anchor is left out", file=sys.stderr)
    worst: dict[str, float] = {}
    try:
        with servers(args.servers.split(","), windows, args.cache_reuse) as found:
            for server in found:
                provider = nx.Provider(name=server.name, base_url=server.base_url)
                counter = nx.counter_for(provider)
                turns = max(args.turns, 2 * server.window // 130 + 8)  # past the window for a while
                print(f"\n{server.name}: {turns} turns")
                for name, send in fits(provider, low_waters, trimmer).items():
                    row = chat(server, name, send, turns, counter).row()
                    print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
                    worst[f"{server.name}: {name}"] = row["again %"]
                provider.close()
    finally:
        if trimmer is not None:
            trimmer.close()
    stable = {k: v for k, v in worst.items() if "stable" in k}
    minimal = {k: v for k, v in worst.items() if "minimal" in k}
    anchor = {k: v for k, v in worst.items() if "trim_messages" in k}
    print(
        f"\nsummary: past the window the server evaluated again at most {max(stable.values(), default=0):.0f} % of "
        f"the prompt tokens sent with the stable fit, against {min(minimal.values(), default=0):.0f}-"
        f"{max(minimal.values(), default=0):.0f} % dropping just enough and "
        f"{min(anchor.values(), default=0):.0f}-{max(anchor.values(), default=0):.0f} % with LiteLLM's "
        "trim_messages (goal ≤ 15 % at 2,048, ≤ 10 % at 8k)"
    )


if __name__ == "__main__":
    main()
