"""QuantReport: every variant measured in one run, as a table, a plot and a recommendation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._html import rows_table
from .measure import VariantMeasure
from .memory import MemoryEstimate, Recommendation, available_memory_mb, runtime_overhead_mb

__all__ = ["QuantReport"]


@dataclass
class QuantReport:
    """All variants measured in one run. ``reference`` names the variant quality is relative to."""

    measures: list[VariantMeasure]
    reference: str
    n_ctx: int
    eval_tokens: int
    notes: list[str] = field(default_factory=list)
    kv_bytes_per_token: dict[str, float] = field(default_factory=dict)

    def to_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame([m.as_row() for m in self.measures])

    def _repr_html_(self) -> str:
        rows = [m.as_row() for m in self.measures]
        head = (
            f"{len(rows)} variant(s); quality relative to {self.reference}; {self.eval_tokens} evaluation tokens"
            + "".join(f"; {n}" for n in self.notes)
        )
        return rows_table(head, list(rows[0]) if rows else [], [list(r.values()) for r in rows])

    def plot(self, ax: Any = None) -> Any:
        """Size against quality (KL), bubble area by generation speed; matplotlib, so it stays in saved notebooks."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        sizes = [m.variant.size_mb for m in self.measures]
        kls = [m.kl_divergence for m in self.measures]
        speeds = [m.tg_tps[0] for m in self.measures]
        scale = 300 / max(speeds) if speeds and max(speeds) > 0 else 1
        ax.scatter(sizes, kls, s=[s * scale for s in speeds], alpha=0.6, color="tab:blue", edgecolor="black")
        for m, x, y in zip(self.measures, sizes, kls, strict=True):
            ax.annotate(f" {m.variant.label}\n {m.tg_tps[0]:.0f} tok/s", (x, y), fontsize=8)
        ax.set_yscale("symlog", linthresh=1e-3)  # the reference sits at exactly 0
        ax.set_xlabel("file size (MB)")
        ax.set_ylabel(f"mean KL divergence vs {self.reference}")
        ax.set_title("size vs quality vs speed (bubble area: generation tok/s)")
        return ax

    def recommend(
        self,
        ram_gb: float | None = None,
        *,
        min_same_top: float | None = None,
        max_kl: float | None = None,
        n_ctx: int | None = None,
    ) -> Recommendation:
        """The best-quality variant whose estimated memory fits ``ram_gb`` (default: available memory now)."""
        ram_mb = ram_gb * 1024 if ram_gb is not None else available_memory_mb()
        ctx = n_ctx or self.n_ctx
        fits = []
        for m in self.measures:
            if min_same_top is not None and m.same_top_token < min_same_top:
                continue
            if max_kl is not None and m.kl_divergence > max_kl:
                continue
            est = self._estimate(m, ctx)
            if est.total_mb <= ram_mb:
                fits.append((m.kl_divergence, m.variant.size_mb, m, est))
        if not fits:
            smallest = min(self.measures, key=lambda m: m.variant.size_mb)
            est = self._estimate(smallest, ctx)
            return Recommendation(
                None,
                None,
                ram_mb,
                est.arithmetic(),
                f"nothing fits {ram_mb:.0f} MB with the quality asked for; the smallest, "
                f"{smallest.variant.label}, needs {est.total_mb:.0f} MB",
            )
        _, _, best, est = min(fits, key=lambda f: (f[0], f[1]))
        return Recommendation(
            best.variant.label,
            round(est.total_mb, 1),
            ram_mb,
            est.arithmetic(),
            f"the lowest KL divergence among the {len(fits)} variant(s) that fit",
        )

    def _estimate(self, m: VariantMeasure, n_ctx: int) -> MemoryEstimate:
        kv_per_token = self.kv_bytes_per_token.get(m.variant.label, 0.0)
        return MemoryEstimate(m.variant.size_mb, kv_per_token * n_ctx / 1e6, runtime_overhead_mb(m.variant.size_mb))
