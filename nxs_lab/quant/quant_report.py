"""QuantReport: every variant measured in one run, as a table, a plot and a recommendation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._html import rows_table
from .._optional import needs
from ..defaults import MB, QUANT_MAX_KL, QUANT_MIN_SAME_TOP
from .measure import VariantMeasure
from .memory import MemoryEstimate, Recommendation, available_memory_mb, shape_memory
from .shapes import ModelShape, shape_from_gguf

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["QuantReport"]


@dataclass
class QuantReport:
    """All variants measured in one run. ``reference`` names the variant quality is relative to."""

    measures: list[VariantMeasure]
    reference: str
    n_ctx: int
    eval_tokens: int
    notes: list[str] = field(default_factory=list)
    shapes: dict[str, ModelShape] = field(default_factory=dict)  # each variant's shape, from its header

    def to_dataframe(self) -> pd.DataFrame:
        with needs():
            import pandas as pd

        return pd.DataFrame([m.as_row() for m in self.measures])

    def _repr_html_(self) -> str:
        """One line per variant (a table of figures that scrolls sideways); each variant's note and the run's
        notes under it."""
        rows = [{k: v for k, v in m.as_row().items() if k != "note"} for m in self.measures]
        head = f"{len(rows)} variants; quality relative to {self.reference}; {self.eval_tokens} evaluation tokens"
        notes = [f"{m.variant.label}: {m.variant.note}" for m in self.measures if m.variant.note] + list(self.notes)
        return rows_table(head, list(rows[0]) if rows else [], [list(r.values()) for r in rows], notes=notes, wide=True)

    def plot(self, ax: Any = None) -> Figure:
        """Size against quality (KL), bubble area by generation speed; matplotlib, so it stays in saved notebooks."""
        with needs():
            import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        sizes = [m.variant.size_mb for m in self.measures]
        kls = [m.kl_divergence for m in self.measures]
        speeds = [m.tg_tps[0] for m in self.measures]
        scale = 300 / max(speeds) if speeds and max(speeds) > 0 else 1
        ax.scatter(sizes, kls, s=[s * scale for s in speeds], alpha=0.6, color="tab:blue", edgecolor="black")
        ax.set_yscale("symlog", linthresh=1e-3)  # the reference sits at exactly 0
        ax.margins(x=0.2, y=0.25)  # room inside the frame for the labels beside the outermost bubbles
        middle = (min(sizes) + max(sizes)) / 2 if sizes else 0
        for i, (m, x, y) in enumerate(zip(self.measures, sizes, kls, strict=True)):
            left = x > middle  # a label points into the frame, off its bubble, alternating above and below
            ax.annotate(
                f"{m.variant.label}\n{m.tg_tps[0]:.0f} tok/s", (x, y), xytext=(-14 if left else 14, 12 if i % 2 else -14),
                textcoords="offset points", ha="right" if left else "left", va="center", fontsize=8,
                arrowprops={"arrowstyle": "-", "color": "#888", "lw": 0.6},
            )  # fmt: skip
        ax.set_xlabel("file size (MB)")
        ax.set_ylabel(f"mean KL divergence vs {self.reference}")
        ax.set_title("size vs quality vs speed (bubble area: generation tok/s)")
        return ax

    def recommend(
        self,
        ram_gb: float | None = None,
        *,
        max_kl: float = QUANT_MAX_KL,
        min_same_top: float = QUANT_MIN_SAME_TOP,
        n_ctx: int | None = None,
    ) -> Recommendation:
        """The smallest variant within the quality tolerance of the reference (mean KL divergence at most
        ``max_kl``, the same top token at least ``min_same_top`` of the time) whose estimated memory fits
        ``ram_gb`` (GB of 10^9 bytes; default: memory available now). The reference itself only when nothing
        smaller is within the tolerance. When nothing within it fits, the best-quality variant that fits,
        marked ``within_tolerance=False``; when nothing fits at all, none."""
        ram_mb = ram_gb * 1e9 / MB if ram_gb is not None else available_memory_mb()
        ctx = n_ctx or self.n_ctx
        tolerance = f"KL ≤ {max_kl:g}, same top token ≥ {100 * min_same_top:g} %"
        fits = [(m, est) for m in self.measures if (est := self._estimate(m, ctx)).total_mb <= ram_mb]
        if not fits:
            smallest = min(self.measures, key=lambda m: m.variant.size_mb)
            est = self._estimate(smallest, ctx)
            why = f"nothing fits {ram_mb:.0f} MB; the smallest, {smallest.variant.label}, needs {est.total_mb:.0f} MB"
            return Recommendation(None, None, ram_mb, est.arithmetic(), why, within_tolerance=False)
        within = [(m, est) for m, est in fits if m.kl_divergence <= max_kl and m.same_top_token >= min_same_top]
        if within:
            m, est = min(within, key=lambda f: (f[0].variant.size_mb, f[0].kl_divergence))
            keep = "keep what you have: " if m.variant.label == self.reference else ""
            why = (
                f"{keep}{m.variant.label} is the smallest of the {len(self.measures)} variants measured that is "
                f"within the tolerance ({tolerance}) and fits {ram_mb:.0f} MB"
            )
            rejected = [self._rejected(v, m, ctx, ram_mb, max_kl, min_same_top) for v in self.measures if v is not m]
            if rejected:
                why += "; not " + "; not ".join(rejected)
            return self._recommended(m, est, ram_mb, why, True)
        m, est = min(fits, key=lambda f: (f[0].kl_divergence, f[0].variant.size_mb))
        why = (
            f"no variant within the tolerance ({tolerance}) fits {ram_mb:.0f} MB; {m.variant.label} is the "
            f"best quality that does ({_outside(m)})"
        )
        return self._recommended(m, est, ram_mb, why, False)

    @staticmethod
    def _recommended(m: VariantMeasure, est: MemoryEstimate, ram_mb: float, why: str, ok: bool) -> Recommendation:
        return Recommendation(
            m.variant.label, round(est.total_mb, 1), ram_mb, est.arithmetic(), why, ok, m.variant.times_smaller_than_f16
        )

    def _rejected(
        self, v: VariantMeasure, chosen: VariantMeasure, n_ctx: int, ram_mb: float, max_kl: float, min_same_top: float
    ) -> str:
        """Why ``v`` was not recommended over ``chosen``, with the numbers."""
        needed = self._estimate(v, n_ctx).total_mb
        if needed > ram_mb:
            return f"{v.variant.label}: needs {needed:.0f} MB, over the {ram_mb:.0f} MB available"
        if v.kl_divergence > max_kl:
            return f"{v.variant.label}: KL {v.kl_divergence:.3g} is over the {max_kl:g} limit"
        if v.same_top_token < min_same_top:
            return (
                f"{v.variant.label}: the same top token {100 * v.same_top_token:.0f} % of the time, under the "
                f"{100 * min_same_top:g} % limit"
            )
        return f"{v.variant.label}: {v.variant.size_mb:.0f} MB, larger than {chosen.variant.size_mb:.0f} MB"

    def _estimate(self, m: VariantMeasure, n_ctx: int) -> MemoryEstimate:
        shape = self.shapes.get(m.variant.label) or shape_from_gguf(m.variant.path)
        return shape_memory(shape, None, n_ctx)


def _outside(m: VariantMeasure) -> str:
    return f"{m.variant.label} (KL {m.kl_divergence:.3g}, same top {100 * m.same_top_token:.0f} %)"
