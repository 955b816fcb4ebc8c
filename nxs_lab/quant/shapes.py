"""A model's shape: what its memory depends on (weights, layers, key/value heads and width, window), read from a
GGUF file's header or taken from a table of well-known open models' published configurations.

    >>> nx.published_shapes()["Llama 3.2 3B"].kv_cache_bytes(8192) / 1e6      # doctest: +SKIP
    939.5...
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PUBLISHED", "TYPICAL_BPW", "ModelShape", "published_shapes", "shape_from_gguf"]

# Bits per weight of whole files at each llama.cpp label: the sizes llama.cpp's quantizer lists for Llama-3-8B
# (8.03 B weights; Q4_K_M 4.58 GiB …). A small model's share of embeddings makes its files a little bigger per weight.
TYPICAL_BPW = {
    "F16": 16.0,
    "BF16": 16.0,
    "Q8_0": 8.51,
    "Q6_K": 6.57,
    "Q5_K_M": 5.70,
    "Q4_K_M": 4.90,
    "Q4_0": 4.64,
    "IQ4_XS": 4.46,
    "Q3_K_M": 4.00,
    "Q2_K": 3.17,
}

# Architectures whose sliding-window layers llama.cpp caches only for the window (plus one batch): every Nth layer
# attends to the whole context, the others to the window.
_GLOBAL_EVERY = {"gemma2": 2, "gemma3": 6}
_UBATCH = 512  # llama.cpp's default micro-batch, which a sliding-window cache holds beyond the window


@dataclass(frozen=True, slots=True)
class ModelShape:
    """What a model's memory depends on. ``kv_heads`` has one entry per layer (most models: the same number)."""

    name: str
    parameters: int
    kv_heads: tuple[int, ...]
    key_length: int
    value_length: int
    context_length: int
    sliding_window: int | None = None
    global_every: int | None = None
    source: str = "published"  # "published" or the GGUF file's path
    file_bytes: int | None = None  # the file's size, when the shape came from a file
    quant: str | None = None  # the file's type label (Q4_K_M …), when it came from a file
    vocab: int | None = None  # tokens in the vocabulary: the logits buffer scales with it

    @property
    def n_layers(self) -> int:
        return len(self.kv_heads)

    def kv_cache_bytes(self, n_ctx: int, kv_bytes: float = 2.0) -> float:
        """Bytes of the K and V caches for ``n_ctx`` tokens at ``kv_bytes`` per value (2: F16, llama.cpp's default)."""
        total = 0
        for i, heads in enumerate(self.kv_heads):
            windowed = self.sliding_window and self.global_every and (i + 1) % self.global_every
            tokens = min(n_ctx, self.sliding_window + _UBATCH) if windowed and self.sliding_window else n_ctx
            total += heads * (self.key_length + self.value_length) * tokens
        return total * kv_bytes

    def weights_bytes(self, quant: str | None = None) -> float:
        """The file's size when the shape came from one (and no other quant is asked), else parameters × the
        label's typical bits per weight."""
        if self.file_bytes is not None and (quant is None or quant.upper() == (self.quant or "").upper()):
            return float(self.file_bytes)
        label = (quant or self.quant or "").upper()
        if label not in TYPICAL_BPW:
            raise ValueError(f"no typical size for quantization {quant!r}; known: {', '.join(TYPICAL_BPW)}")
        return self.parameters * TYPICAL_BPW[label] / 8


def _shape(
    name: str, params_b: float, layers: int, kv_heads: int, head: int, ctx: int, vocab: int, swa: int | None = None
) -> ModelShape:
    arch_every = 6 if swa else None  # the Gemma 3 pattern: five sliding-window layers, then a global one
    return ModelShape(name, round(params_b * 1e9), (kv_heads,) * layers, head, head, ctx, swa, arch_every, vocab=vocab)


# Published configurations (the models' config.json): weights, layers, KV heads, head size, trained context,
# vocabulary.
PUBLISHED: tuple[ModelShape, ...] = (
    _shape("Qwen2.5 0.5B", 0.49, 24, 2, 64, 32768, 151936),
    _shape("Gemma 3 1B", 1.00, 26, 1, 256, 32768, 262144, swa=512),
    _shape("Llama 3.2 1B", 1.24, 16, 8, 64, 131072, 128256),
    _shape("Qwen2.5 1.5B", 1.54, 28, 2, 128, 32768, 151936),
    _shape("Qwen2.5 3B", 3.09, 36, 2, 128, 32768, 151936),
    _shape("Llama 3.2 3B", 3.21, 28, 8, 128, 131072, 128256),
    _shape("Phi-3.5-mini", 3.82, 32, 32, 96, 131072, 32064),
    _shape("Phi-4-mini", 3.84, 32, 8, 128, 131072, 200064),
    _shape("Gemma 3 4B", 3.88, 34, 4, 256, 131072, 262144, swa=1024),
    _shape("Mistral 7B", 7.25, 32, 8, 128, 32768, 32768),
    _shape("Qwen2.5 7B", 7.62, 28, 4, 128, 32768, 152064),
    _shape("Llama 3.1 8B", 8.03, 32, 8, 128, 131072, 128256),
)


def published_shapes() -> dict[str, ModelShape]:
    """The table of well-known open models, by name."""
    return {s.name: s for s in PUBLISHED}


def _int(metadata: dict[str, Any], key: str, default: int | None = None) -> int | None:
    value = metadata.get(key)
    if isinstance(value, (list, tuple)):  # per-layer values: the caller wants the list
        return None
    return int(value) if isinstance(value, (int, float)) else default


def _vocab(md: dict[str, Any], arch: str) -> int | None:
    size = _int(md, f"{arch}.vocab_size")
    if size:
        return size
    tokens = md.get("tokenizer.ggml.tokens")  # read_gguf keeps a long array as "<array of N>"
    if isinstance(tokens, str) and tokens.startswith("<array of "):
        return int(tokens.removeprefix("<array of ").rstrip(">"))
    return len(tokens) if isinstance(tokens, list) else None


def shape_from_gguf(path: str | os.PathLike[str], name: str | None = None, file_bytes: int | None = None) -> ModelShape:
    """The real shape of the model in a GGUF file, from its header (no weights are read). ``file_bytes``: the
    whole model's size when it is split over several files."""
    from .gguf import read_gguf

    p = Path(path)
    info = read_gguf(p)
    md = info.metadata
    arch = str(md.get("general.architecture", "llama"))
    layers = _int(md, f"{arch}.block_count")
    heads = _int(md, f"{arch}.attention.head_count")
    embd = _int(md, f"{arch}.embedding_length")
    if not layers or not heads or not embd:
        raise ValueError(f"{p} has no {arch}.block_count / attention.head_count / embedding_length: not a model")
    raw_kv = md.get(f"{arch}.attention.head_count_kv", heads)
    kv = tuple(int(h) for h in raw_kv) if isinstance(raw_kv, (list, tuple)) else (int(raw_kv),) * layers
    key = _int(md, f"{arch}.attention.key_length", embd // heads) or embd // heads
    value = _int(md, f"{arch}.attention.value_length", key) or key
    window = _int(md, f"{arch}.attention.sliding_window")
    every = _GLOBAL_EVERY.get(arch) if window else None
    return ModelShape(
        name or str(md.get("general.name") or p.stem),
        info.parameters,
        kv,
        key,
        value,
        _int(md, f"{arch}.context_length", 0) or 0,
        window if every else None,
        every,
        str(p),
        file_bytes if file_bytes is not None else p.stat().st_size,
        info.file_type,
        _vocab(md, arch),
    )
