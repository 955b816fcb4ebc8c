"""How much memory a model needs (weights + KV cache + runtime), how much this machine has, and which
measured variant to recommend for it.

    >>> nx.estimate_memory(3.2, 4.85, 4096).arithmetic()          # doctest: +SKIP
    >>> report.recommend(ram_gb=4)                                 # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

from .._html import kv_table

__all__ = ["MemoryEstimate", "Recommendation", "available_memory_mb", "estimate_memory", "runtime_overhead_mb"]


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
        return (
            f"{self.weights_mb:.0f} MB weights + {self.kv_cache_mb:.0f} MB KV cache + "
            f"{self.overhead_mb:.0f} MB runtime = {self.total_mb:.0f} MB"
        )


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
        n_layers = n_layers or max(8, round(12 * params_b**0.35))
        kv_dim = kv_dim or (1024 if params_b >= 3 else 512)
    kv = 2 * n_layers * n_ctx * kv_dim * kv_bytes / 1e6
    return MemoryEstimate(weights, kv, runtime_overhead_mb(weights) if overhead_mb is None else overhead_mb)


def runtime_overhead_mb(weights_mb: float) -> float:
    """Compute buffers and the runtime: about 5 % of the weights, at least 32 MB (checked against measured RSS)."""
    return max(32.0, 0.05 * weights_mb)


def model_shape(metadata: dict[str, str]) -> tuple[int, int]:
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
        return kv_table(
            "recommendation",
            {
                "variant": self.variant,
                "memory needed (MB)": self.needed_mb,
                "memory available (MB)": round(self.ram_mb),
                "arithmetic": self.arithmetic,
                "why": self.reason,
            },
        )


def available_memory_mb() -> float:
    """Memory available to this process now, in MB: the system's available memory (psutil: Linux, macOS,
    Windows), clamped to the container's cgroup limit when one is set (Docker, Binder, Kubernetes)."""
    import psutil

    available = psutil.virtual_memory().available
    limit = _cgroup_room()
    return min(available, limit) / 2**20 if limit is not None else available / 2**20


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
