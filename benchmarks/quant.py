"""The kit's generation tokens/s against llama.cpp's own performance counters, for the same runs.

    .venv/bin/python benchmarks/quant.py [--repetitions 5] [--types F16,Q8_0,...]

Makes the variants of the bundled model, measures them with nx.compare_quantizations (which reads
``llama_perf_context`` after each of its runs), and prints the full table for this machine. Goal
(benchmarks/README.md): the kit's tok/s within 10 % of llama.cpp's counters.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import nxs_lab as nx
from nxs_lab.quant import QUANT_TYPES, QuantVariant


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--types", default=",".join(QUANT_TYPES))
    args = parser.parse_args()
    src = nx.bundled_model_path()
    with tempfile.TemporaryDirectory() as tmp:
        variants = [QuantVariant.from_file(src)] + [
            nx.quantize(src, Path(tmp) / f"{t}.gguf", t) for t in args.types.split(",")
        ]
        report = nx.compare_quantizations(variants, repetitions=args.repetitions, gen_tokens=64, progress=False)
    df = report.to_dataframe().drop(columns=["note"])
    print(df.to_string(index=False))
    worst = 0.0
    print()
    print(f"{'variant':<8} {'kit tok/s':>10} {'llama.cpp tok/s':>16} {'diff':>7}")
    for m in report.measures:
        diff = (m.tg_tps[0] - m.perf_tg_tps[0]) / m.perf_tg_tps[0]
        worst = max(worst, abs(diff))
        print(f"{m.variant.label:<8} {m.tg_tps[0]:>10.1f} {m.perf_tg_tps[0]:>16.1f} {diff:>+7.1%}")
    verdict = "meets" if worst <= 0.10 else "misses"
    print(
        f"summary: the kit's generation tok/s is within {worst:.1%} of llama.cpp's own counters across "
        f"{len(report.measures)} variants ({verdict} the 10% goal)"
    )


if __name__ == "__main__":
    main()
