"""Read a GGUF file's header with the ``gguf`` package (llama.cpp's own reader): metadata, and each tensor's
type and size, without loading weights. It knows every current type (MXFP4 and the newer ones included).

Used to report what a quantization really produced: llama.cpp falls back to other types for tensors
whose rows do not fit a K-quant block (SmolLM2's 576-wide rows, for one), so the label is not the mix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["GGUFInfo", "bits_per_weight", "file_type_name", "read_gguf", "type_name"]


def type_name(ggml_type: Any) -> str:
    """``q4_K``, ``q8_0``, ``f16``, ``mxfp4`` … (llama.cpp's spelling) for a ``GGMLQuantizationType``."""
    name = ggml_type.name.lower()
    return name[:-2] + "_K" if name.endswith("_k") else name


def bits_per_weight(ggml_type: Any) -> float:
    """Bits each weight of this type takes, block scales included."""
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[ggml_type]
    return size * 8 / block


def file_type_name(file_type: int) -> str:
    """The label of a ``general.file_type`` value: ``Q4_K_M``, ``F16``, ``F32`` …; ``type<N>`` when unknown."""
    import gguf

    try:
        name = gguf.LlamaFileType(file_type).name
    except ValueError:
        return f"type{file_type}"
    return "F32" if name == "ALL_F32" else name.removeprefix("MOSTLY_")


@dataclass(frozen=True, slots=True)
class GGUFInfo:
    metadata: dict[str, Any]
    tensors: list[tuple[str, str, int]]  # (name, type, elements)
    bits: dict[str, float]  # type -> bits per weight

    @property
    def type_mix(self) -> dict[str, int]:
        mix: dict[str, int] = {}
        for _, t, _ in self.tensors:
            mix[t] = mix.get(t, 0) + 1
        return mix

    @property
    def parameters(self) -> int:
        return sum(n for _, _, n in self.tensors)

    @property
    def bits_per_weight(self) -> float:
        total = self.parameters
        return sum(n * self.bits[t] for _, t, n in self.tensors) / total if total else 0.0

    @property
    def file_type(self) -> str | None:
        ftype = self.metadata.get("general.file_type")
        return file_type_name(int(ftype)) if isinstance(ftype, int) else None


def _value(field: Any) -> Any:
    if len(field.data) > 64:  # vocabularies and merges are not worth keeping here
        return f"<array of {len(field.data)}>"
    return field.contents()


def read_gguf(path: str | os.PathLike[str]) -> GGUFInfo:
    """Parse the header of the GGUF file at ``path``. Raises ``ValueError`` naming the file if it is not one."""
    import gguf

    try:
        reader = gguf.GGUFReader(path, "r")
    except (ValueError, IndexError, OSError) as exc:
        raise ValueError(f"{path} is not a readable GGUF file: {exc}") from exc
    metadata = {name: _value(f) for name, f in reader.fields.items() if not name.startswith("GGUF.")}
    tensors: list[tuple[str, str, int]] = []
    bits: dict[str, float] = {}
    for t in reader.tensors:
        name = type_name(t.tensor_type)
        bits.setdefault(name, bits_per_weight(t.tensor_type))
        tensors.append((t.name, name, int(t.n_elements)))
    return GGUFInfo(metadata, tensors, bits)
