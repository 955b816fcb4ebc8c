"""Make quantization variants of a GGUF model with llama.cpp's quantizer, and describe what came out.

    >>> v = nx.quantize(nx.bundled_model_path(), "runs/q8.gguf", "Q8_0")          # doctest: +SKIP
    >>> v.bits_per_weight, v.tensor_types, v.note                                 # doctest: +SKIP

Each variant is described from its own GGUF header (real bits per weight, tensor-type mix), not its label.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._native_log import captured_native_log
from ..errors import QuantizeError
from ._llama import llama_cpp_module
from .gguf import read_gguf

__all__ = ["QUANT_TYPES", "QuantVariant", "quantize"]

QUANT_TYPES = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")


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
    parameters: int = 0  # weights in the file, from its header
    matrices: int = 0  # tensors a quantization quantizes (the rest are norms and biases)

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6

    @property
    def times_smaller_than_f16(self) -> float | None:
        """How many times smaller than the same weights in F16 (2 bytes each); ``None`` without a header."""
        return round(2 * self.parameters / self.size_bytes, 2) if self.parameters and self.size_bytes else None

    def as_row(self) -> dict[str, Any]:
        mix = ", ".join(f"{t}×{n}" for t, n in sorted(self.tensor_types.items(), key=lambda kv: -kv[1]))
        return {
            "variant": self.label,
            "size_mb": round(self.size_mb, 1),
            "bpw": self.bits_per_weight,
            "× smaller than F16": self.times_smaller_than_f16,
            "tensor types": mix,
            "fallback tensors": f"{self.fallback_tensors} of {self.matrices}",
            "note": self.note,
        }

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], label: str | None = None, note: str = "") -> QuantVariant:
        """Describe an existing GGUF (e.g. the bundled model) by reading its header."""
        p = Path(path)
        info = read_gguf(p)
        notes = [note] if note else []
        if info.fallback_tensors:
            notes.append(_fallback_note(info.fallback_tensors, info.matrices))
        return cls(
            label or info.file_type or p.stem,
            p,
            p.stat().st_size,
            round(info.bits_per_weight, 3),
            info.type_mix,
            fallback_tensors=info.fallback_tensors,
            note="; ".join(notes),
            parameters=info.parameters,
            matrices=info.matrices,
        )


def _fallback_note(fallback: int, matrices: int) -> str:
    return f"{fallback} of {matrices} quantized tensors fell back to other types (rows not a multiple of 256)"


def quantize(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], qtype: str, *, threads: int | None = None
) -> QuantVariant:
    """Write ``dst``, a ``qtype`` (e.g. ``"Q4_K_M"``) variant of ``src``, and describe what came out.

    Requantizing an already-quantized source is allowed; the variant then says so, because its
    weights carry the source's rounding (an F16 made from Q4_1 is Q4_1 quality in F16 clothes).
    """
    llama_cpp = llama_cpp_module()
    const = f"LLAMA_FTYPE_MOSTLY_{qtype.upper()}"
    if not hasattr(llama_cpp, const):
        known = sorted(
            n.removeprefix("LLAMA_FTYPE_MOSTLY_") for n in dir(llama_cpp) if n.startswith("LLAMA_FTYPE_MOSTLY_")
        )
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
        raise QuantizeError(
            f"llama.cpp could not quantize {src_p.name} to {qtype} (code {rc}): " + " | ".join(log[-3:])
        )
    info = read_gguf(dst_p)
    src_type = QuantVariant.from_file(src_p).label
    requantized = src_type not in ("F32", "F16", "BF16")
    notes = []
    if requantized:
        notes.append(f"requantized from {src_type}: quality is relative to the {src_type} source")
    if info.fallback_tensors:
        notes.append(_fallback_note(info.fallback_tensors, info.matrices))
    return QuantVariant(
        qtype.upper(),
        dst_p,
        dst_p.stat().st_size,
        round(info.bits_per_weight, 3),
        info.type_mix,
        fallback_tensors=info.fallback_tensors,
        source=str(src_p),
        requantized=requantized,
        note="; ".join(notes),
        parameters=info.parameters,
        matrices=info.matrices,
    )
