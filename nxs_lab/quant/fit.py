"""Which models fit this machine: the GGUF files the user has and well-known open models, each as weights + KV
cache at the context asked for + runtime overhead, against the memory available now, with the arithmetic.

    >>> fits = nx.recommend_models(ram_gb=2.9, context=8192)       # doctest: +SKIP
    >>> fits.verdict()                                              # doctest: +SKIP
    'At 8,192 tokens of context, 2,900 MB given: 6 of 12 fit. The largest that fits: Llama 3.2 1B (Q4_K_M) …'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._html import rows_table
from .._optional import needs
from ..defaults import MB
from .files import find_model_files
from .memory import MemoryEstimate, available_memory_mb, shape_memory
from .shapes import PUBLISHED, ModelShape, shape_from_gguf

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ModelFit", "ModelFits", "recommend_models"]


@dataclass(frozen=True, slots=True)
class ModelFit:
    shape: ModelShape
    quant: str | None
    estimate: MemoryEstimate
    available_mb: float
    context: int
    max_context: int  # the longest context that fits the memory (0: not even the weights fit)
    found_in: str  # "published", "LM Studio", "Ollama" or a folder

    @property
    def fits(self) -> bool:
        return self.estimate.total_mb <= self.available_mb

    @property
    def label(self) -> str:
        return f"{self.shape.name} ({self.quant})" if self.quant else self.shape.name

    def as_row(self) -> dict[str, Any]:
        note = ""
        if self.shape.context_length and self.context > self.shape.context_length:
            note = f"beyond its trained context of {self.shape.context_length:,}"
        return {
            "model": self.shape.name,
            "quant": self.quant,
            "from": self.found_in,
            "B weights": round(self.shape.parameters / 1e9, 2),
            "layers": self.shape.n_layers,
            "weights MB": round(self.estimate.weights_mb),
            "KV cache MB": round(self.estimate.kv_cache_mb),
            "runtime MB": round(self.estimate.overhead_mb),
            "total MB": round(self.estimate.total_mb),
            "fits": self.fits,
            "headroom MB": round(self.available_mb - self.estimate.total_mb),
            "max context that fits": self.max_context,
            "arithmetic": self.estimate.arithmetic(),
            "note": note,
        }


@dataclass
class ModelFits:
    """Every model considered, fitting ones first (largest first), with why."""

    fits: list[ModelFit]
    available_mb: float
    context: int
    memory_from: str
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why) for files left out

    @property
    def fitting(self) -> list[ModelFit]:
        return [f for f in self.fits if f.fits]

    @property
    def best(self) -> ModelFit | None:
        """The largest model that fits (most weights; of equals, the smaller need)."""
        return max(self.fitting, key=lambda f: (f.shape.parameters, -f.estimate.total_mb), default=None)

    def to_dataframe(self) -> pd.DataFrame:
        with needs():
            import pandas as pd

        return pd.DataFrame([f.as_row() for f in self.fits])

    def verdict(self) -> str:
        head = (
            f"At {self.context:,} tokens of context, {self.available_mb:,.0f} MB {self.memory_from}: "
            f"{len(self.fitting)} of {len(self.fits)} fit."
        )
        best = self.best
        if best is None:
            return head + " Nothing fits; a shorter context or a smaller quantization needs less."
        text = f"{head} The largest that fits: {best.label}, {best.estimate.arithmetic()}."
        misses = [f for f in self.fits if not f.fits]
        if misses:
            near = min(misses, key=lambda f: f.estimate.total_mb)
            more = f"{near.estimate.total_mb - self.available_mb:,.0f} MB more than there is"
            ctx = f"; it would fit at {near.max_context:,} tokens" if near.max_context else ""
            text += f" Closest to fitting: {near.label}, {near.estimate.arithmetic()}, {more}{ctx}."
        return text

    def _repr_html_(self) -> str:
        rows = [f.as_row() for f in self.fits]
        return rows_table(self.verdict(), list(rows[0]) if rows else [], [list(r.values()) for r in rows])


def _max_context(shape: ModelShape, quant: str | None, available_mb: float, kv_bytes: float) -> int:
    """The longest context whose estimate fits ``available_mb`` (a search: sliding-window caches are not linear)."""
    limit = shape.context_length or 1 << 20
    if shape_memory(shape, quant, 0, kv_bytes=kv_bytes).total_mb > available_mb:
        return 0
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if shape_memory(shape, quant, mid, kv_bytes=kv_bytes).total_mb <= available_mb:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _fit(shape: ModelShape, quant: str | None, available: float, context: int, kv: float, where: str) -> ModelFit:
    est = shape_memory(shape, quant, context, kv_bytes=kv)
    return ModelFit(
        shape, quant or shape.quant, est, available, context, _max_context(shape, quant, available, kv), where
    )


def recommend_models(
    ram_gb: float | None = None,
    context: int = 8192,
    *,
    folders: Sequence[str | os.PathLike[str]] | None = None,
    default_folders: bool = True,
    published: bool = True,
    quants: Sequence[str] = ("Q4_K_M",),
    kv_bytes: float = 2.0,
) -> ModelFits:
    """Which models fit ``ram_gb`` (GB of 10^9 bytes; default: the memory available now, within a container's
    limit) at ``context`` tokens: the GGUF files in ``folders`` and in LM Studio's and Ollama's model folders
    (``default_folders``), each at its real shape and size read from its header, and, with ``published``, the
    well-known open models at each of ``quants``. ``kv_bytes``: bytes per cached value (2 for llama.cpp's F16 cache,
    1 for q8_0)."""
    if context < 1:
        raise ValueError(f"context must be at least 1 token, not {context}")
    available = ram_gb * 1e9 / MB if ram_gb is not None else available_memory_mb()
    memory_from = "given" if ram_gb is not None else "available now"
    files, skipped = find_model_files(list(folders or ()), default_folders=default_folders)
    fits: list[ModelFit] = []
    for f in files:
        try:
            shape = shape_from_gguf(f.path, name=f.name, file_bytes=f.size_bytes)
        except ValueError as exc:  # a projector, a tokenizer-only file, a damaged header: said, not fatal
            skipped.append((str(f.path), str(exc)))
            continue
        fits.append(_fit(shape, None, available, context, kv_bytes, f.found_in))
    if published:
        fits += [_fit(s, q, available, context, kv_bytes, "published") for s in PUBLISHED for q in quants]
    fits.sort(key=lambda f: (not f.fits, -f.shape.parameters, f.estimate.total_mb))
    return ModelFits(fits, available, context, memory_from, skipped)
