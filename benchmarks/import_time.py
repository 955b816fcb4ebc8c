"""How long `import nxs_lab` takes, beside its anchors (openai; litellm when installed), in one run.

    .venv/bin/python benchmarks/import_time.py [--runs 7]

Each import runs in a fresh interpreter; the interpreter's own start-up is measured too and subtracted.
Goal (benchmarks/README.md): `import nxs_lab` <= 0.3 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time


def median_seconds(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base = median_seconds("pass", args.runs)
    rows = [("python -c pass (subtracted)", base)]
    for module in ("nxs_lab", "openai", "litellm"):
        if importlib.util.find_spec(module) is None:
            print(f"{module:<28} not installed, skipped")
            continue
        rows.append((f"import {module}", median_seconds(f"import {module}", args.runs) - base))
    for name, secs in rows:
        print(f"{name:<28} {secs * 1000:8.1f} ms")
    ours = dict(rows)["import nxs_lab"]
    openai_s = dict(rows).get("import openai")
    ratio = f", {openai_s / ours:.0f}x faster than import openai" if openai_s else ""
    verdict = "meets" if ours <= 0.3 else "misses"
    print(f"summary: import nxs_lab {ours * 1000:.0f} ms ({verdict} the 300 ms goal{ratio})")


if __name__ == "__main__":
    main()
