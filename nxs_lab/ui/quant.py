"""QuantPanel: pick quantization types, measure them with a progress bar, see the table, plot and recommendation."""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

import ipywidgets as widgets

from ..errors import NxsLabError
from ..quant import QUANT_TYPES, QuantReport, QuantVariant, available_memory_mb, compare_quantizations, quantize
from ._base import Panel, panel_box

__all__ = ["QuantPanel"]


class QuantPanel(Panel):
    """Make and measure variants of ``source`` (a GGUF path); ``report`` holds the last :class:`QuantReport`."""

    def __init__(
        self,
        source: str | os.PathLike[str],
        *,
        out_dir: str | os.PathLike[str] | None = None,
        types: tuple[str, ...] = ("Q8_0", "Q4_K_M"),
        repetitions: int = 2,
    ) -> None:
        self.source = Path(source)
        self.out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="nxs-quant-"))
        self.types = widgets.SelectMultiple(
            options=list(QUANT_TYPES), value=tuple(types), description="variants", rows=len(QUANT_TYPES)
        )
        self.repetitions = widgets.BoundedIntText(value=repetitions, min=1, max=20, description="repetitions")
        self.ram = widgets.BoundedFloatText(
            value=round(available_memory_mb() / 1000, 1), min=0.1, max=4096, step=0.5, description="RAM GB"
        )
        self.run_button = widgets.Button(description="Measure", button_style="primary", icon="tachometer")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress")
        self.status = widgets.HTML()
        self.table = widgets.HTML()
        # hidden until there is a plot: an Image without one shows a broken-image icon
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="700px", display="none"))
        self.recommendation = widgets.HTML()
        self.widget = panel_box(
            [
                widgets.HTML(f"<b>Quantization</b> of {html.escape(self.source.name)} (the reference)"),
                widgets.HBox([self.types, widgets.VBox([self.repetitions, self.ram, self.run_button])]),
                self.progress,
                self.status,
                self.table,
                self.plot,
                self.recommendation,
            ],
            "nxs-quant-panel",
        )
        self.report: QuantReport | None = None
        self.error: BaseException | None = None
        self.run_button.on_click(lambda _b: self.start())
        self.ram.observe(lambda _c: self._show_recommendation(), names="value")

    def start(self, wait: bool = False) -> None:
        if self.busy:
            return
        if not self.types.value:
            self.status.value = "<span style='color:#b00020'>choose at least one variant</span>"
            return
        self.error = None
        self.run_button.disabled = True
        self._background(self._run, list(self.types.value), self.repetitions.value, wait=wait)

    def _run(self, types: list[str], reps: int) -> None:
        steps = len(types) * 2 + 1
        self.progress.value, self.progress.max = 0, steps
        try:
            variants = [QuantVariant.from_file(self.source, note="the reference")]
            for t in types:
                self.status.value = f"quantizing {html.escape(t)}…"
                variants.append(quantize(self.source, self.out_dir / f"{self.source.stem}.{t}.gguf", t))
                self.progress.value += 1
            self.status.value = "measuring…"

            def tick(done: int, total: int) -> None:
                self.progress.value = len(types) + done

            self.report = compare_quantizations(variants, repetitions=reps, progress=tick)
            self.table.value = self.report._repr_html_()
            self.plot.value = self._plot_png(self.report)
            self.plot.layout.display = None
            self._show_recommendation()
            self.status.value = f"measured {len(variants)} variants, {reps} timed run(s) each after a warm-up"
        except (NxsLabError, ValueError, OSError) as exc:
            self.error = exc
            self.status.value = (
                f"<span style='color:#b00020'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</span>"
            )
        finally:
            self.run_button.disabled = False

    @staticmethod
    def _plot_png(report: QuantReport) -> bytes:
        """The report's plot as PNG bytes: an Image widget updates from any thread, an Output does not."""
        import io

        from matplotlib.figure import Figure

        fig = Figure(figsize=(7, 4))
        report.plot(ax=fig.add_subplot())
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        return buf.getvalue()

    def _show_recommendation(self) -> None:
        if self.report is None:
            return
        rec = self.report.recommend(ram_gb=self.ram.value)
        self.recommendation.value = rec._repr_html_()
