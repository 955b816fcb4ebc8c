"""Log search over 100,000 stored calls: the FTS5 index beside the request log against a plain scan of the same
JSON lines (grep-like, in Python: the anchor), side by side in one run; goal (benchmarks/README.md) under 50 ms.

    .venv/bin/python benchmarks/log_search.py [--calls 100000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nxs_lab.logsearch import LogIndex

WORDS = ["river", "delta", "mountain", "lake", "glacier", "forest", "desert", "ocean", "valley", "canyon"]


def write_log(path: Path, calls: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(calls):
            word = WORDS[i % len(WORDS)]
            question = f"question {i}: tell me about the {word} near site {i % 997}"
            if i == calls // 2:
                question += " zanzibar"  # one call that holds the rare word
            line = {"time": f"2026-11-{1 + i % 28:02d}T10:00:00Z", "provider": "box", "model": "q", "outcome": "ok",
                    "content": {"question": question, "answer": f"answer {i} about {word}"}}  # fmt: skip
            fh.write(json.dumps(line) + "\n")


def scan(path: Path, word: str) -> int:
    n = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            c = json.loads(line).get("content") or {}
            n += word in f"{c.get('question', '')} {c.get('answer', '')}"
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requests.jsonl"
        write_log(path, args.calls)
        index = LogIndex(path)
        t0 = time.perf_counter()
        index.refresh()
        built = time.perf_counter() - t0
        kit, anchor = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            found = index.search("zanzibar")
            kit.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            scanned = scan(path, "zanzibar")
            anchor.append(time.perf_counter() - t0)
        assert len(found) == 1 and scanned == 1
    k, a = statistics.median(kit) * 1000, statistics.median(anchor) * 1000
    print(f"index built once: {built:.1f} s for {args.calls:,} calls")
    print(f"      the kit (FTS5 index, refreshed each search): median {k:.1f} ms")
    print(f"  plain scan of the JSON lines (the anchor): median {a:.1f} ms")
    print(f"summary: search over {args.calls:,} logged calls {k:.1f} ms (goal < 50 ms) against a scan's {a:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
