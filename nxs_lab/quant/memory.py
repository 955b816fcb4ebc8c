"""How much memory a model needs (weights + KV cache + runtime), how much this machine has, and which
measured variant to recommend for it.

    >>> nx.estimate_memory("Llama 3.2 3B", "Q4_K_M", 8192).arithmetic()   # doctest: +SKIP
    >>> report.recommend(ram_gb=4)                                 # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .._html import kv_table
from ..defaults import MB
from .shapes import TYPICAL_BPW, ModelShape, published_shapes, shape_from_gguf

__all__ = [
    "MemoryEstimate",
    "Recommendation",
    "available_memory_mb",
    "estimate_memory",
    "runtime_overhead_mb",
    "shape_memory",
]


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """Weights + KV cache + runtime overhead, with the arithmetic (MB are 10^6 bytes)."""

    weights_mb: float
    kv_cache_mb: float
    overhead_mb: float
    weights_how: str = ""  # where the weights figure comes from: "file size", "3.21 B × 4.90 bits" …
    kv_how: str = ""  # how the KV cache was computed: layers × heads × width × tokens × bytes
    overhead_how: str = ""  # what the runtime figure is made of

    @property
    def total_mb(self) -> float:
        return self.weights_mb + self.kv_cache_mb + self.overhead_mb

    def arithmetic(self) -> str:
        w = f" ({self.weights_how})" if self.weights_how else ""
        kv = f" ({self.kv_how})" if self.kv_how else ""
        rt = f" ({self.overhead_how})" if self.overhead_how else ""
        return (
            f"{self.weights_mb:,.0f} MB weights{w} + {self.kv_cache_mb:,.0f} MB KV cache{kv} + "
            f"{self.overhead_mb:,.0f} MB runtime{rt} = {self.total_mb:,.0f} MB"
        )


def estimate_memory(
    model: ModelShape | str | os.PathLike[str] | float,
    quant: str | float | None = None,
    n_ctx: int = 4096,
    *,
    n_layers: int | None = None,
    kv_dim: int | None = None,
    kv_bytes: float = 2.0,
    overhead_mb: float | None = None,
) -> MemoryEstimate:
    """Memory to run a model at ``n_ctx`` tokens of context, from its real shape.

    ``model`` is a :class:`ModelShape`, a GGUF file (its header is read), a name from
    :func:`published_shapes` (``"Llama 3.2 3B"``), or a size in billions of weights, which then needs
    ``n_layers`` and ``kv_dim`` (``n_kv_heads × head size``): the number of layers cannot be guessed from
    the size (Llama 3.2 3B has 28, Qwen2.5 3B 36). ``quant`` is a llama.cpp label (``"Q4_K_M"``) or bits per
    weight; a file's own size is used when it is not given.
    """
    if isinstance(model, (int, float)):
        if n_layers is None or kv_dim is None or quant is None:
            raise ValueError(
                f"a model given as {model} B weights needs quant, n_layers and kv_dim (n_kv_heads × head size); "
                "or give a GGUF file or a published name: " + ", ".join(published_shapes())
            )
        # a shape with one KV "head" kv_dim wide per layer: the same K and V bytes per token
        shape = ModelShape(f"{model:g} B", round(model * 1e9), (1,) * n_layers, kv_dim, kv_dim, n_ctx)
        return shape_memory(shape, quant, n_ctx, kv_bytes=kv_bytes, overhead_mb=overhead_mb)
    shape = _shape_of(model)
    return shape_memory(shape, quant, n_ctx, kv_bytes=kv_bytes, overhead_mb=overhead_mb)


def _shape_of(model: ModelShape | str | os.PathLike[str]) -> ModelShape:
    if isinstance(model, ModelShape):
        return model
    table = published_shapes()
    if isinstance(model, str) and model in table:
        return table[model]
    if Path(model).is_file():
        return shape_from_gguf(model)
    raise ValueError(f"{str(model)!r} is neither a GGUF file nor a published model: " + ", ".join(table))


def shape_memory(
    shape: ModelShape,
    quant: str | float | None,
    n_ctx: int,
    *,
    kv_bytes: float = 2.0,
    overhead_mb: float | None = None,
) -> MemoryEstimate:
    """:func:`estimate_memory` for a known shape."""
    if isinstance(quant, (int, float)):
        weights, how_w = shape.parameters * float(quant) / 8 / MB, f"{shape.parameters / 1e9:.2f} B × {quant:g} bits"
    else:
        weights = shape.weights_bytes(quant) / MB
        from_file = shape.file_bytes is not None and (quant is None or quant.upper() == (shape.quant or "").upper())
        label = (quant or shape.quant or "").upper()
        how_w = "file size" if from_file else f"{shape.parameters / 1e9:.2f} B × {TYPICAL_BPW[label]:g} bits of {label}"
    kv = shape.kv_cache_bytes(n_ctx, kv_bytes) / MB
    heads = set(shape.kv_heads)
    per_layer = f"{heads.pop()} KV heads" if len(heads) == 1 else "per-layer KV heads"
    how_kv = f"{shape.n_layers} layers × {per_layer} × ({shape.key_length}+{shape.value_length}) × {n_ctx:,} tokens × {kv_bytes:g} B"
    if shape.sliding_window:
        how_kv += f"; sliding-window layers hold {shape.sliding_window} + one batch"
    if overhead_mb is not None:
        return MemoryEstimate(weights, kv, overhead_mb, how_w, how_kv, "given")
    if shape.vocab:
        logits = shape.vocab * UBATCH * 4 / MB
        how_rt = f"logits of a {UBATCH}-token batch × {shape.vocab:,}-token vocabulary × 4 B + {RUNTIME_BASE_MB:g} MB"
        return MemoryEstimate(weights, kv, logits + RUNTIME_BASE_MB, how_w, how_kv, how_rt)
    return MemoryEstimate(weights, kv, runtime_overhead_mb(weights), how_w, how_kv, "5 % of the weights")


# llama.cpp's compute buffer on a CPU is mostly the logits of one micro-batch (n_ubatch 512 × vocabulary × 4 bytes:
# 99.4 MiB logged for SmolLM2's 49,152 tokens); the runtime itself, threads and tokenizer take a few tens of MB more.
UBATCH = 512
RUNTIME_BASE_MB = 32.0


def runtime_overhead_mb(weights_mb: float) -> float:
    """Compute buffers and the runtime when the vocabulary is not known: about 5 % of the weights, at least 32 MB."""
    return max(RUNTIME_BASE_MB, 0.05 * weights_mb)


@dataclass(frozen=True, slots=True)
class Recommendation:
    variant: str | None
    needed_mb: float | None
    ram_mb: float
    arithmetic: str
    reason: str
    within_tolerance: bool = True  # False: nothing within the quality tolerance fits; this is the best that does
    times_smaller_than_f16: float | None = None

    def _repr_html_(self) -> str:
        return kv_table(
            "recommendation",
            {
                "variant": self.variant,
                "× smaller than F16": self.times_smaller_than_f16,
                "within the quality tolerance": self.within_tolerance,
                "memory needed (MB)": self.needed_mb,
                "memory available (MB)": round(self.ram_mb),
                "arithmetic": self.arithmetic,
                "why": self.reason,
            },
        )


def available_memory_mb() -> float:
    """Memory available to this process now, in MB (10^6 bytes): the system's available memory (psutil: Linux,
    macOS, Windows), clamped to the container's cgroup limit when one is set (Docker, Binder, Kubernetes)."""
    import psutil

    available = psutil.virtual_memory().available
    limit = _cgroup_room()
    return (min(available, limit) if limit is not None else available) / MB


def _cgroup_room() -> int | None:
    """Bytes left under a cgroup v2 (or v1) memory limit, or ``None`` when there is none."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_file) as fh:
                raw = fh.read().strip()
            with open(usage_file) as fh:
                used = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if raw == "max" or not raw.isdigit() or int(raw) >= 2**60:  # v1 says "no limit" with a huge number
            return None
        return max(0, int(raw) - used)
    return None
