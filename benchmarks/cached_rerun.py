"""A cached rerun of the evaluation runbook against its cold run, beside promptfoo's cache doing the same.

    .venv/bin/python benchmarks/cached_rerun.py [--promptfoo PATH] [--runs 2]

One llama.cpp llama-server (built by scripts/build_llama_server.sh, the bundled model) stands for the user's own
server or a cloud key. The same 14 tasks (the kit's recall and arithmetic tasks, temperature 0, 48 tokens, one
call at a time) are asked of it:

- by the kit: runbook 06 (06_local_vs_cloud) run by papermill as ``nxs-lab run`` runs it, with ``endpoints`` set
  to the server and ``cache`` to a fresh cache file: once cold, then ``--runs`` more times warm;
- by promptfoo (the anchor; ``npm install promptfoo`` somewhere and give its ``promptfoo`` with ``--promptfoo``
  or ``PROMPTFOO``): ``promptfoo eval -j 1`` with a fresh ``PROMPTFOO_CACHE_PATH``, cold then warm.

Each run is timed as a whole (the process, the kernel or node, imports and all), and the runbook's evaluation cell
is also timed by papermill (the calls alone). What each warm run asked of the server is read from the server's own
counters (``/metrics``: requests are counted as prompt tokens evaluated, ``llamacpp:prompt_tokens_total`` plus
``…_cached_total``), so a rerun that was not answered from the cache shows. Goal (benchmarks/README.md): a cached
rerun in under 5 % of its cold time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nxs_lab as nx
from nxs_lab.evaluation import shipped_tasks
from nxs_lab.testing import foreign

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = ROOT / "nxs_lab" / "notebooks" / "06_local_vs_cloud.ipynb"
CATEGORIES = ["recall", "arithmetic"]  # plain chat: what both tools ask the same way
MAX_TOKENS = 48  # the runbook's default
# Python's bytecode cache on, for the runs and their kernels, as in a user's install: where the environment turns it
# off (PYTHONDONTWRITEBYTECODE), every import compiles again and a run measures the compiler (pandas alone: 1.2 s).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def prompt_tokens(url: str) -> float:
    """Every prompt token the server has seen: evaluated, or taken from its own prompt cache."""
    m = foreign.llama_server_metrics(url)
    return m.get("llamacpp:prompt_tokens_total", 0.0) + m.get("llamacpp:prompt_tokens_cached_total", 0.0)


def kit_run(work: Path, url: str, model: str, cache: Path, tasks: Path, max_tokens: int) -> tuple[float, float, float]:
    """Runbook 06 through papermill in a fresh kernel: (the whole run, its cells, its evaluation cell), in seconds."""
    out = work / f"run-{time.monotonic_ns()}.ipynb"
    params = {
        "endpoints": [{"name": "server", "base_url": url, "model": model}],
        "task_file": str(tasks),
        "max_tokens": max_tokens,
        "cache": str(cache),
    }
    code = (
        "import json, sys, papermill; papermill.execute_notebook(sys.argv[1], sys.argv[2], "
        "parameters=json.loads(sys.argv[3]), progress_bar=False, cwd=sys.argv[4])"
    )
    t0 = time.perf_counter()
    argv = [sys.executable, "-c", code, str(RUNBOOK), str(out), json.dumps(params), str(work)]
    subprocess.run(argv, check=True, env=CHILD_ENV, stderr=subprocess.DEVNULL)
    whole = time.perf_counter() - t0
    cells = json.loads(out.read_text())["cells"]
    code_cells = [c for c in cells if c["cell_type"] == "code"]
    evaluated = next(c for c in code_cells if "nx.evaluate(" in "".join(c["source"]))
    in_cells = sum(float(c["metadata"]["papermill"]["duration"] or 0) for c in code_cells)
    return whole, in_cells, float(evaluated["metadata"]["papermill"]["duration"])


def _assertion(check: dict) -> dict:
    """The kit's check as promptfoo's assertion, near enough for timing (the scores are not compared)."""
    if check["type"] == "contains":
        return {"type": "icontains-any", "value": list(check["values"])}
    if check["type"] == "regex":
        return {"type": "regex", "value": check["pattern"]}
    return {"type": "contains", "value": str(check["value"])}


def promptfoo_config(work: Path, url: str, model: str, max_tokens: int) -> Path:
    tests = [{"vars": {"input": t.input}, "assert": [_assertion(t.check)]} for t in shipped_tasks(CATEGORIES)]
    config = {
        "prompts": ["{{input}}"],
        "providers": [
            {
                "id": f"openai:chat:{model}",
                "config": {"apiBaseUrl": url, "apiKey": "bench", "temperature": 0, "max_tokens": max_tokens},
            }
        ],
        "tests": tests,
    }
    path = work / "promptfooconfig.json"
    path.write_text(json.dumps(config))
    return path


def promptfoo_run(promptfoo: str, config: Path, home: Path) -> float:
    env = {
        **os.environ,
        "PROMPTFOO_CONFIG_DIR": str(home),
        "PROMPTFOO_CACHE_PATH": str(home / "cache"),
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_DISABLE_SHARING": "1",
    }
    out = home / f"out-{time.monotonic_ns()}.json"
    cmd = [promptfoo, "eval", "-c", str(config), "-j", "1", "--no-progress-bar", "--no-table", "-o", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=False, env=env, capture_output=True, cwd=home)  # exit 100 when a test fails
    took = time.perf_counter() - t0
    if not out.exists():
        raise RuntimeError(f"promptfoo wrote no results: {' '.join(cmd)}")
    return took


def measure(name: str, run, url: str, runs: int) -> dict[str, list[float]]:
    """One cold run, then ``runs`` warm ones: the times ``run`` returns (the whole run first, then any parts) and
    the prompt tokens the server saw during each, under ``cold`` and ``warm``."""
    seen: dict[str, list] = {"cold": [], "warm": [], "cold_tokens": [], "warm_tokens": []}
    for i in range(runs + 1):
        phase = "cold" if i == 0 else "warm"
        before = prompt_tokens(url)
        took = run()
        seen[phase].append(took if isinstance(took, tuple) else (took,))
        seen[f"{phase}_tokens"].append(prompt_tokens(url) - before)
        parts = seen[phase][-1]
        shown = f"{parts[0]:.2f} s" + (
            f" (cells {parts[1]:.2f} s, evaluation cell {parts[2]:.2f} s)" if len(parts) > 1 else ""
        )
        print(
            f"  {name} {phase}: {shown}, {seen[f'{phase}_tokens'][-1]:.0f} prompt tokens sent to the server", flush=True
        )
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promptfoo", default=os.environ.get("PROMPTFOO") or shutil.which("promptfoo"))
    parser.add_argument("--runs", type=int, default=2, help="warm runs after the cold one (default 2)")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help="per answer (default: the runbook's 48)")
    args = parser.parse_args()
    if foreign.llama_server_binary() is None:
        sys.exit("no llama-server: bash scripts/build_llama_server.sh, then set NXS_LAB_LLAMA_SERVER")
    with tempfile.TemporaryDirectory() as tmp, foreign.llama_server(2048) as url:
        work = Path(tmp)
        model = nx.discover(hosts="127.0.0.1", ports=[int(url.rsplit(":", 1)[1].split("/")[0])])[0].models[0].id
        tasks = work / "tasks.jsonl"
        rows = [
            {"id": t.id, "input": t.input, "check": t.check, "category": t.category} for t in shipped_tasks(CATEGORIES)
        ]
        tasks.write_text("".join(json.dumps(row) + "\n" for row in rows))
        print(f"{len(rows)} tasks, {args.max_tokens} tokens at most each, llama-server at {url}")
        kit_run(work, url, model, work / "priming.sqlite", tasks, args.max_tokens)  # untimed: bytecode, page cache
        run = lambda: kit_run(work, url, model, work / "cache.sqlite", tasks, args.max_tokens)  # noqa: E731
        kit = measure("kit (runbook 06)", run, url, args.runs)
        pf = None
        if args.promptfoo:
            (work / "pf").mkdir()
            config = promptfoo_config(work, url, model, args.max_tokens)
            pf = measure("promptfoo eval", lambda: promptfoo_run(args.promptfoo, config, work / "pf"), url, args.runs)
        else:
            print("  promptfoo: not found (npm install promptfoo; --promptfoo PATH): the anchor is skipped")
    report(kit, pf)


def _share(seen: dict[str, list], part: int = 0) -> tuple[float, float, float]:
    """(warm median, cold, warm / cold) of one part of the runs."""
    warm, cold = statistics.median(t[part] for t in seen["warm"]), seen["cold"][0][part]
    return warm, cold, warm / cold


def report(kit: dict[str, list], pf: dict[str, list] | None) -> None:
    whole, cells, evaluation = (_share(kit, i) for i in range(3))
    line = (
        f"summary: cached rerun of runbook 06 {whole[0]:.1f} s of {whole[1]:.1f} s cold ({whole[2]:.0%}; "
        f"its cells {cells[2]:.0%}, its evaluation cell {evaluation[2]:.1%}), "
        f"{max(kit['warm_tokens']):.0f} prompt tokens sent on reruns"
    )
    if pf is not None:
        pf_whole = _share(pf)
        line += (
            f"; promptfoo eval {pf_whole[0]:.1f} s of {pf_whole[1]:.1f} s ({pf_whole[2]:.0%}), "
            f"{max(pf['warm_tokens']):.0f} prompt tokens on reruns"
        )
    print(line + "; goal under 5 %")


if __name__ == "__main__":
    main()
