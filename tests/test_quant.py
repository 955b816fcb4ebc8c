"""Quantize real variants of the bundled model and measure them; the panel and the runbook too."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

import nxs_lab as nx
from nxs_lab import defaults
from nxs_lab.quant import QuantVariant
from nxs_lab.runbooks import run_runbook

pytestmark = [pytest.mark.server, pytest.mark.timeout(600)]

FAST = dict(repetitions=1, eval_tokens=96, gen_tokens=8, n_ctx=512, progress=False)


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, QuantVariant]:
    out = tmp_path_factory.mktemp("quant")
    src = nx.bundled_model_path()
    made = {t: nx.quantize(src, out / f"{t}.gguf", t) for t in ("F16", "Q8_0", "Q2_K")}
    made["source"] = QuantVariant.from_file(src)
    return made


@pytest.fixture(scope="module")
def report(variants) -> nx.QuantReport:
    return nx.compare_quantizations([variants["F16"], variants["Q8_0"], variants["Q2_K"]], **FAST)


def test_sizes_shrink_and_the_real_mix_is_reported(variants) -> None:
    f16, q8, q2 = variants["F16"], variants["Q8_0"], variants["Q2_K"]
    assert f16.size_bytes > q8.size_bytes > q2.size_bytes
    assert f16.bits_per_weight > q8.bits_per_weight > q2.bits_per_weight
    assert f16.requantized and "quality is relative to the Q4_1 source" in f16.note  # said, not hidden
    assert q2.tensor_types.get("q4_0", 0) > 0 and q2.fallback_tensors > 0  # SmolLM2's 576-wide rows
    assert q2.bits_per_weight > 2.625  # the label says 2.6, the fallbacks make it more
    assert variants["source"].label == "Q4_1"


def test_quality_is_finite_and_ordered(report) -> None:
    ref, q8, q2 = report.measures
    assert report.reference == "F16"
    for m in report.measures:
        assert math.isfinite(m.perplexity) and m.perplexity > 1
        assert math.isfinite(m.kl_divergence) and m.kl_divergence >= 0
        assert m.tg_tps[0] > 0 and m.perf_tg_tps[0] > 0 and m.ttft_s[0] > 0 and m.rss_mb > 0
    assert ref.kl_divergence == 0 and ref.same_top_token == 1.0
    assert q2.kl_divergence > q8.kl_divergence and q2.same_top_token < q8.same_top_token


def test_reference_against_an_independent_copy_of_itself_is_zero(variants, tmp_path: Path) -> None:
    copy = tmp_path / "copy.gguf"
    shutil.copy(variants["Q8_0"].path, copy)
    rep = nx.compare_quantizations([variants["Q8_0"], QuantVariant.from_file(copy, label="copy")], **FAST)
    assert rep.measures[1].kl_divergence == pytest.approx(0, abs=1e-9)
    assert rep.measures[1].same_top_token == 1.0


def test_recommendation_is_the_smallest_within_the_tolerance(report) -> None:
    _, q8, q2 = report.measures
    within = [
        m
        for m in report.measures
        if m.kl_divergence <= defaults.QUANT_MAX_KL and m.same_top_token >= defaults.QUANT_MIN_SAME_TOP
    ]
    roomy = report.recommend(ram_gb=64)  # everything fits: the smallest within the documented tolerance
    assert roomy.variant == min(within, key=lambda m: m.variant.size_mb).variant.label and roomy.within_tolerance
    assert roomy.variant != "F16"  # Q8_0 of the same weights is within any sensible tolerance
    assert roomy.times_smaller_than_f16 is not None and roomy.times_smaller_than_f16 > 1.5
    between = (q8.kl_divergence + q2.kl_divergence) / 2  # a tolerance Q8_0 meets and Q2_K does not
    mid = report.recommend(ram_gb=64, max_kl=between, min_same_top=0)
    assert mid.variant == "Q8_0" and "not Q2_K: KL" in mid.reason and f"over the {between:g} limit" in mid.reason
    assert "not F16: " in mid.reason and "larger than" in mid.reason  # every other variant, and why, with numbers
    loose = report.recommend(ram_gb=64, max_kl=10, min_same_top=0)
    assert loose.variant == "Q2_K"  # within a loose tolerance the smallest wins
    picky = report.recommend(ram_gb=64, max_kl=1e-12)
    assert picky.variant == "F16" and picky.within_tolerance  # F16 only when nothing smaller is within it
    assert picky.reason.startswith("keep what you have: F16") and "not Q8_0: KL" in picky.reason


def test_recommendation_respects_memory(report) -> None:
    q2_needed = report._estimate(report.measures[2], report.n_ctx).total_mb
    tight = report.recommend(ram_gb=(q2_needed + 1) / 1000, max_kl=1e-12)  # only Q2_K fits, outside the tolerance
    assert tight.variant == "Q2_K" and tight.needed_mb <= tight.ram_mb and not tight.within_tolerance
    assert "no variant within the tolerance" in tight.reason
    none = report.recommend(ram_gb=0.01)
    assert none.variant is None and "nothing fits" in none.reason


def test_fallback_tensors_are_read_from_the_tensor_types(variants, tmp_path: Path) -> None:
    """llama.cpp gives SmolLM2's 576-wide matrices q8_0 when asked for Q6_K: 181 of its 211 matrices."""
    q6 = nx.quantize(nx.bundled_model_path(), tmp_path / "q6.gguf", "Q6_K")
    assert (q6.fallback_tensors, q6.matrices) == (181, 211)
    assert q6.tensor_types["q8_0"] == 181 and "181 of 211" in q6.note
    assert QuantVariant.from_file(q6.path).fallback_tensors == 181  # the same from the file alone
    assert variants["Q8_0"].fallback_tensors == 0 and variants["source"].fallback_tensors == 0  # not K-quants
    assert q6.as_row()["× smaller than F16"] == pytest.approx(2 * q6.parameters / q6.size_bytes, abs=0.01)


def test_memory_estimate_against_measured_rss(report) -> None:
    for m in report.measures:
        assert 0.5 < m.estimated_mb / m.rss_mb < 2.5, (m.variant.label, m.estimated_mb, m.rss_mb)
    est = nx.estimate_memory("Llama 3.2 3B", "Q4_K_M", 4096)
    assert est.total_mb == pytest.approx(est.weights_mb + est.kv_cache_mb + est.overhead_mb)
    assert "weights" in est.arithmetic() and 1500 < est.total_mb < 3000  # a 3B Q4_K_M fits a 4 GB machine


def test_table_and_plot(report) -> None:
    df = report.to_dataframe()
    assert list(df["variant"]) == ["F16", "Q8_0", "Q2_K"] and "tg tok/s (llama.cpp)" in df.columns
    ax = report.plot()
    assert len(ax.collections[0].get_offsets()) == 3


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown quantization type"):
        nx.quantize(nx.bundled_model_path(), "/tmp/x.gguf", "Q9_Z")
    with pytest.raises(FileNotFoundError):
        nx.quantize("/nonexistent.gguf", "/tmp/x.gguf", "Q8_0")
    with pytest.raises(ValueError, match="at least one"):
        nx.compare_quantizations([])


def test_quant_panel(tmp_path: Path) -> None:
    from nxs_lab.ui import QuantPanel

    panel = QuantPanel(nx.bundled_model_path(), out_dir=tmp_path, types=("Q8_0",), repetitions=1)
    assert panel.plot.layout.display == "none"  # no empty image (a broken-image icon) before the first plot
    panel.run_button.click()
    panel.wait(300)
    assert panel.error is None and panel.report is not None
    assert "Q8_0" in panel.table.value and "recommendation" in panel.recommendation.value
    assert panel.progress.value == panel.progress.max
    assert bytes(panel.plot.value).startswith(b"\x89PNG") and panel.plot.layout.display is None
    assert "keep what you have" in panel.recommendation.value or "not Q4_1" in panel.recommendation.value
    panel.ram.value = 0.01
    assert "nothing fits" in panel.recommendation.value


def test_runbook_with_two_types_and_one_repetition(tmp_path: Path) -> None:
    nb = Path(__file__).parent.parent / "notebooks" / "05_quantization.ipynb"
    result = run_runbook(
        nb,
        {"quant_types": ["Q8_0", "Q2_K"], "repetitions": 1, "ram_gb": 1.0, "out_dir": str(tmp_path / "variants")},
        runs_dir=tmp_path / "runs",
        progress=False,
    )
    cells = json.loads(result.output_path.read_text())["cells"]
    text = json.dumps([c.get("outputs", []) for c in cells])
    assert "Q2_K" in text and "image/png" in text and "recommended" in text


def test_variants_served_over_http(variants) -> None:
    from nxs_lab.quant import compare_endpoints

    with nx.LocalServer(n_ctx=512, embedding=False, extra_models={"smollm2-q8": variants["Q8_0"].path}) as srv:
        p = srv.provider()
        df = compare_endpoints([(p, srv.chat_alias), (p, "smollm2-q8")], repetitions=1, max_tokens=8)
        described = {m["id"]: m for m in srv.describe()}
    assert list(df["model"]) == [srv.chat_alias, "smollm2-q8"]
    assert all(float(v.split()[0]) > 0 for v in df["tg tok/s"])
    assert described["smollm2-q8"]["quantization"] == "Q8_0"  # the alias really served the variant


def test_every_gguf_type_is_known_mxfp4_included(tmp_path) -> None:
    """Read with the ``gguf`` package: every type it knows has a size (none comes out as 0 bits), a file with an
    MXFP4 tensor (gpt-oss) reads as 4.25 bits per weight, and an all-F32 source is labelled F32."""
    import gguf
    import numpy as np

    from nxs_lab.quant.gguf import bits_per_weight, file_type_name, read_gguf, type_name

    for t in gguf.GGMLQuantizationType:
        if t in gguf.GGML_QUANT_SIZES:
            assert bits_per_weight(t) > 0 and type_name(t)
    path = tmp_path / "mxfp4.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.MXFP4]
    rows, cols = 4, 2 * block  # two MXFP4 blocks per row: the row is 2 × 17 bytes
    writer.add_tensor(
        "blk.0.ffn_up.weight",
        np.zeros((rows, 2 * size), dtype=np.uint8),
        raw_shape=(rows, 2 * size),
        raw_dtype=gguf.GGMLQuantizationType.MXFP4,
    )
    writer.add_tensor("output_norm.weight", np.ones(cols, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    info = read_gguf(path)
    assert info.type_mix == {"mxfp4": 1, "f32": 1} and info.bits["mxfp4"] == 4.25
    assert info.file_type == "F32" == file_type_name(0)


def test_the_table_is_one_line_per_variant_with_the_spread_said_honestly(report) -> None:
    """With FAST's repetitions there is no spread to give: "n=1", never "± 0"; notes sit under the table, and the
    table of figures keeps each cell on one line and shows its sideways scrollbar."""
    html = report._repr_html_()
    n = FAST["repetitions"]
    assert (f"(n={n})" in html) and ("± 0.0 (n=1)" not in html and " ± 0 " not in html)
    assert ">note<" not in html and "F16: " in html.split("</table>", 1)[1]  # the requantized F16's note, below
    assert "overflow-x:scroll" in html and html.count("<td") == html.count("white-space:nowrap") - html.count("<th")
    assert {m.repetitions for m in report.measures} == {n}
    said = next(note for note in report.notes if note.startswith("measured in this process"))  # its provenance
    assert "llama-cpp-python 0.3" in said and all(m.variant.label in said for m in report.measures)


def test_plot_labels_sit_inside_the_frame_and_off_their_bubbles(report) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    canvas = FigureCanvasAgg(fig)
    ax = report.plot(ax=fig.add_subplot())
    fig.tight_layout()
    canvas.draw()
    renderer = canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    labels = [t for t in ax.texts if t.get_text().split("\n")[0] in {m.variant.label for m in report.measures}]
    assert len(labels) == len(report.measures)
    for label, m in zip(labels, report.measures, strict=True):
        box = label.get_window_extent(renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, m.variant.label
        x, y = ax.transData.transform((m.variant.size_mb, m.kl_divergence))
        assert not box.contains(x, y), m.variant.label  # the label does not cover its bubble's centre
