"""What an evaluation found: every call as a row, each endpoint's figures with confidence intervals, pairwise
win rates, plots, a verdict in words, and a history file that tracks the figures across scheduled runs."""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._html import kv_table, rows_table
from .._optional import needs
from .stats import mean_ci

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["Evaluation", "load_history", "plot_history"]

# Figures summarised per endpoint: (column, label, scale for display)
_FIGURES = (
    ("score", "score", 1.0),
    ("ttft_s", "ttft ms", 1000.0),
    ("latency_s", "latency ms", 1000.0),
    ("tok_per_s", "gen tok/s", 1.0),
    ("prompt_tokens", "tokens in", 1.0),
    ("cached_tokens", "of them cached", 1.0),
    ("completion_tokens", "tokens out", 1.0),
)


def _fmt_ci(mean: float, lo: float, hi: float, scale: float) -> str:
    if math.isnan(mean):
        return "—"
    digits = 2 if scale == 1.0 and abs(mean) < 10 else 0
    text = f"{mean * scale:.{digits}f}"
    return text if math.isnan(lo) else f"{text} [{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"


class Evaluation:
    """``records``: one dict per call (see :meth:`to_dataframe`); ``endpoints`` in the order given."""

    def __init__(
        self,
        records: list[dict],
        endpoints: Sequence[str],
        seconds: float = 0.0,
        skipped: int = 0,
        judge: dict[str, Any] | None = None,
    ) -> None:
        self.records = list(records)
        self.endpoints = list(endpoints)
        self.seconds = seconds
        self.skipped = skipped
        self.judge = judge  # the judge's own calls, failures, tokens and cost, when a Judge scored
        self._figures: dict[str, dict[str, tuple[float, float, float]]] = {}  # per endpoint, made once
        self.drift = self._drift()
        for line in self.drift:
            warnings.warn(line, RuntimeWarning, stacklevel=3)

    def provenance(self, name: str) -> list[tuple[Any, Any, Any]]:
        """The distinct (server, quantization, window) an endpoint answered from during the run, in order."""
        seen: list[tuple[Any, Any, Any]] = []
        for r in self._rows(name):
            key = (r.get("server"), r.get("quantization"), r.get("window"))
            if key != (None, None, None) and key not in seen:
                seen.append(key)
        return seen

    def _drift(self) -> list[str]:
        """A sentence per endpoint whose server, quantization or window changed in the middle of the run: its
        figures mix two setups."""
        out = []
        for name in self.endpoints:
            seen = self.provenance(name)
            if len(seen) > 1:
                said = " then ".join(f"{s or '?'} {q or '?'} window {w or '?'}" for s, q, w in seen)
                out.append(f"{name} changed during the run ({said}): its figures mix them")
        return out

    def to_dataframe(self) -> pd.DataFrame:
        with needs():
            import pandas as pd

        return pd.DataFrame(self.records)

    def _rows(self, name: str, ok_only: bool = True) -> list[dict]:
        return [r for r in self.records if r["endpoint"] == name and (r["ok"] or not ok_only)]

    def figures(self, name: str) -> dict[str, tuple[float, float, float]]:
        """``{figure: (mean, low, high)}`` for one endpoint. The score counts failed calls as 0; the timings and
        token counts are over the calls that answered."""
        if name in self._figures:
            return self._figures[name]
        out = {"score": mean_ci([r["score"] for r in self._rows(name, ok_only=False) if r["score"] is not None])}
        measured = [r for r in self._rows(name) if not r.get("from_cache")]  # a cached answer is no measurement
        for key, _label, _scale in _FIGURES[1:]:
            out[key] = mean_ci([float(r[key]) for r in measured if r.get(key) is not None])
        self._figures[name] = out
        return out

    def summary(self) -> pd.DataFrame:
        """One row per endpoint: calls, errors, cost, and each figure as ``mean [95 % interval]``."""
        with needs():
            import pandas as pd

        rows = []
        for name in self.endpoints:
            every, figs = self._rows(name, ok_only=False), self.figures(name)
            sources = {str(r["tok_per_s_source"]) for r in self._rows(name) if r.get("tok_per_s_source")}
            row: dict[str, Any] = {"endpoint": name, "calls": len(every), "errors": sum(not r["ok"] for r in every)}
            for key, label, scale in _FIGURES:
                row[label] = _fmt_ci(*figs[key], scale)
            row["tok/s from"] = ", ".join(sorted(sources)) or "—"
            row["cost"] = round(sum(r.get("cost") or 0.0 for r in every), 6)
            row["from cache"] = sum(bool(r.get("from_cache")) for r in every)  # scored, not timed or priced
            seen = self.provenance(name)  # which server, quantization and window answered ("⚠" when it changed)
            row["served by"] = ("⚠ " if len(seen) > 1 else "") + " then ".join(
                ", ".join(str(x) for x in key if x is not None) for key in seen
            ) or "—"
            rows.append(row)
        return pd.DataFrame(rows)

    def win_rates(self) -> pd.DataFrame:
        """``[a][b]``: the share of tasks on which ``a`` scored higher than ``b`` (ties count half)."""
        with needs():
            import pandas as pd

        per_task: dict[str, dict[str, float]] = {n: {} for n in self.endpoints}
        for name in self.endpoints:
            by_task: dict[str, list[float]] = {}
            for r in self._rows(name, ok_only=False):
                by_task.setdefault(r["task"], []).append(r["score"] or 0.0)
            per_task[name] = {t: sum(v) / len(v) for t, v in by_task.items()}
        table = pd.DataFrame(index=self.endpoints, columns=self.endpoints, dtype=float)
        for a, b in itertools.permutations(self.endpoints, 2):
            shared = per_task[a].keys() & per_task[b].keys()
            wins = sum(1.0 if per_task[a][t] > per_task[b][t] else 0.5 if per_task[a][t] == per_task[b][t] else 0.0
                       for t in shared)  # fmt: skip
            table.loc[a, b] = wins / len(shared) if shared else math.nan
        return table

    def verdict(self) -> str:
        """Which endpoint is faster and which scores higher, by how much, and whether the intervals say it is sure."""
        if len(self.endpoints) < 2:
            return f"one endpoint ({self.endpoints[0]}): nothing to compare."
        figs = {n: self.figures(n) for n in self.endpoints}
        return " ".join(
            [
                _compare(figs, "latency_s", "is faster", lower_is_better=True, unit=lambda v: f"{v * 1000:.0f} ms"),
                _compare(figs, "score", "scores higher", lower_is_better=False, unit=lambda v: f"{v:.2f}"),
            ]
        )

    def history_row(self) -> dict[str, Any]:
        """This run's figures, one flat record (what :meth:`append_history` writes)."""
        row: dict[str, Any] = {"time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        for name in self.endpoints:
            figs = self.figures(name)
            for key in ("score", "latency_s", "ttft_s", "tok_per_s"):
                row[f"{name}.{key}"] = None if math.isnan(figs[key][0]) else round(figs[key][0], 6)
            row[f"{name}.errors"] = sum(not r["ok"] for r in self._rows(name, ok_only=False))
            seen = self.provenance(name)
            row[f"{name}.provenance"] = list(seen[-1]) if seen else None
        return row

    def append_history(self, path: str | os.PathLike[str]) -> Path:
        """Append :meth:`history_row` as one JSON line to ``path`` (created with its folder); warns, and keeps the
        sentence in :attr:`drift`, for an endpoint whose server, quantization or window differs from the stored
        run before it (its figures are not the same setup's)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        row = self.history_row()
        last = _last_line(p)
        for name in self.endpoints:
            before, now = (last or {}).get(f"{name}.provenance"), row.get(f"{name}.provenance")
            if before is not None and now is not None and list(before) != list(now):
                line = f"{name} is not what it was in the stored run ({before} then {now}): the history mixes them"
                self.drift.append(line)
                warnings.warn(line, RuntimeWarning, stacklevel=2)
        with p.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        return p

    def plot(self) -> Figure:
        """Two panels: the latency of every answer per endpoint, and mean score against mean latency (with
        their 95 % intervals) per endpoint."""
        with needs():
            import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
        data = [[r["latency_s"] * 1000 for r in self._rows(n)] or [math.nan] for n in self.endpoints]
        left.boxplot(data, showmeans=True)
        left.set_xticks(range(1, len(self.endpoints) + 1), self.endpoints, rotation=15)
        left.set_ylabel("latency per answer (ms)")
        left.set_title("latency distribution")
        for name in self.endpoints:
            f = self.figures(name)
            (lat, llo, lhi), (sc, slo, shi) = f["latency_s"], f["score"]
            xerr = [[(lat - llo) * 1000], [(lhi - lat) * 1000]] if not math.isnan(llo) else None
            yerr = [[sc - slo], [shi - sc]] if not math.isnan(slo) else None
            right.errorbar([lat * 1000], [sc], xerr=xerr, yerr=yerr, fmt="o", capsize=4, label=name)
        right.set_xlabel("mean latency (ms)")
        right.set_ylabel("mean score")
        right.set_ylim(-0.05, 1.05)
        right.set_title("quality vs latency (95 % intervals)")
        right.legend(fontsize=8)
        fig.tight_layout()
        return fig

    def _repr_html_(self) -> str:
        head = kv_table(
            "evaluation",
            {"endpoints": len(self.endpoints), "calls": len(self.records), "calls not made (max_calls)": self.skipped,
             "seconds": round(self.seconds, 1), "verdict": self.verdict(),
             **({f"judge {k}": v for k, v in self.judge.items()} if self.judge else {})},
        )  # fmt: skip
        df = self.summary()
        return head + rows_table(
            "per endpoint (mean [95 % interval])",
            list(df.columns),
            df.values.tolist(),
            notes=[f"⚠ {d}" for d in self.drift],
        )


_WORDS = {"latency_s": "latency", "score": "score"}


def _compare(figs: dict, key: str, word: str, lower_is_better: bool, unit: Any) -> str:
    """One sentence: the best endpoint against the next on ``key``, by how much, and how sure."""
    known = [n for n in figs if not math.isnan(figs[n][key][0])]
    if len(known) < 2:
        return f"Not enough answers to compare {_WORDS[key]}."
    best, second = sorted(known, key=lambda n: figs[n][key][0] * (1 if lower_is_better else -1))[:2]
    (b, blo, bhi), (s, slo, shi) = figs[best][key], figs[second][key]
    if b == s:
        return f"{best} and {second} are level on {_WORDS[key]} ({unit(b)})."
    sure = not (math.isnan(blo) or math.isnan(slo)) and (bhi < slo if lower_is_better else blo > shi)
    how = "the 95 % intervals do not overlap" if sure else "but the 95 % intervals overlap: not a sure difference"
    ratio = f" ({s / b:.1f}×)" if lower_is_better and b > 0 else ""
    return f"{best} {word} than {second}: {unit(b)} against {unit(s)}{ratio}; {how}."


def load_history(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The history file as a DataFrame, one row per run, ``time`` parsed."""
    with needs():
        import pandas as pd

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    df = pd.DataFrame(rows)
    if not df.empty:
        df["time"] = pd.to_datetime(df["time"])
    return df


def plot_history(history: Any) -> Figure:
    """Score and latency of each endpoint across runs: drift of a local model or a cloud API over weeks."""
    with needs():
        import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    for col in [c for c in history.columns if c.endswith(".score")]:
        top.plot(history["time"], history[col], marker="o", label=col.removesuffix(".score"))
    for col in [c for c in history.columns if c.endswith(".latency_s")]:
        bottom.plot(history["time"], history[col] * 1000, marker="o", label=col.removesuffix(".latency_s"))
    top.set_ylabel("mean score")
    bottom.set_ylabel("mean latency (ms)")
    top.set_title(f"history: {len(history)} run(s)")
    top.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _last_line(path: Path) -> dict[str, Any] | None:
    """The last stored run of a history file (``None`` when there is none, or it cannot be read as one)."""
    if not path.exists():
        return None
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    try:
        last = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None
    return last if isinstance(last, dict) else None
