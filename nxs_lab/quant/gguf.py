"""Read a GGUF file's header: metadata, and each tensor's type and shape, without loading weights. The header
is parsed here (a few milliseconds; the ``gguf`` package's reader takes seconds, building every vocabulary entry);
the ``gguf`` package names the types and their sizes, so every current type (MXFP4 included) is known.

Used to report what a quantization really produced: llama.cpp falls back to other types for tensors
whose rows do not fit a K-quant block (SmolLM2's 576-wide rows, for one), so the label is not the mix.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Any

from .._optional import needs

__all__ = ["GGUFInfo", "bits_per_weight", "file_type_name", "read_gguf", "type_name"]


def type_name(ggml_type: Any) -> str:
    """``q4_K``, ``q8_0``, ``f16``, ``mxfp4`` … (llama.cpp's spelling) for a ``GGMLQuantizationType``."""
    name = ggml_type.name.lower()
    return name[:-2] + "_K" if name.endswith("_k") else name


def bits_per_weight(ggml_type: Any) -> float:
    """Bits each weight of this type takes, block scales included."""
    with needs():
        import gguf

    block, size = gguf.GGML_QUANT_SIZES[ggml_type]
    return size * 8 / block


def file_type_name(file_type: int) -> str:
    """The label of a ``general.file_type`` value: ``Q4_K_M``, ``F16``, ``F32`` …; ``type<N>`` when unknown."""
    with needs():
        import gguf

    try:
        name = gguf.LlamaFileType(file_type).name
    except ValueError:
        return f"type{file_type}"
    return "F32" if name == "ALL_F32" else name.removeprefix("MOSTLY_")


@dataclass(frozen=True, slots=True)
class GGUFInfo:
    metadata: dict[str, Any]
    tensors: list[tuple[str, str, int, int]]  # (name, type, elements, row length); a vector's row is itself
    bits: dict[str, float]  # type -> bits per weight

    @property
    def type_mix(self) -> dict[str, int]:
        mix: dict[str, int] = {}
        for _, t, _, _ in self.tensors:
            mix[t] = mix.get(t, 0) + 1
        return mix

    @property
    def parameters(self) -> int:
        return sum(n for _, _, n, _ in self.tensors)

    @property
    def bits_per_weight(self) -> float:
        total = self.parameters
        return sum(n * self.bits[t] for _, t, n, _ in self.tensors) / total if total else 0.0

    @property
    def matrices(self) -> int:
        """Tensors with more than one row: the ones a quantization quantizes (norms and biases stay F32)."""
        return sum(1 for _, _, n, row in self.tensors if n > row)

    @property
    def fallback_tensors(self) -> int:
        """Matrices of a K-quant file that are not K-quants because their rows are not a multiple of 256
        (a K-quant block): llama.cpp gave them another type (q8_0 for Q6_K, q5_0 for Q4_K …). Read from the
        types and shapes in the file, so it holds for a file made anywhere. 0 for files that are not K-quants."""
        label = (self.file_type or "").upper()
        if "_K" not in label:
            return 0
        return sum(1 for _, t, n, row in self.tensors if n > row and row % 256 and not t.endswith("_K"))

    @property
    def file_type(self) -> str | None:
        ftype = self.metadata.get("general.file_type")
        return file_type_name(int(ftype)) if isinstance(ftype, int) else None


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_KEEP_ARRAY = 4096  # numeric arrays up to this long are kept (per-layer head counts); vocabularies are not
_KEEP_STRINGS = 64


class _Header:
    """A cursor over a GGUF header (little-endian, versions 2 and 3), reading only what it is asked for: the
    metadata and the tensor table, never the weights. Long arrays (a 150,000-token vocabulary) are stepped over."""

    def __init__(self, buf: Any) -> None:
        self.buf, self.pos = buf, 0

    def scalar(self, kind: int) -> Any:
        fmt = _SCALARS[kind]
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.scalar(10)
        text = bytes(self.buf[self.pos : self.pos + n]).decode("utf-8", "replace")
        self.pos += n
        return text

    def value(self, kind: int) -> Any:
        if kind == _STRING:
            return self.string()
        if kind != _ARRAY:
            return self.scalar(kind)
        inner, count = self.scalar(4), self.scalar(10)
        if inner == _STRING:
            if count > _KEEP_STRINGS:
                for _ in range(count):
                    n = self.scalar(10)  # read first: it moves the cursor past the length
                    self.pos += n
                return f"<array of {count}>"
            return [self.string() for _ in range(count)]
        if inner not in _SCALARS:
            raise ValueError(f"array of unknown value type {inner}")
        if count > _KEEP_ARRAY:
            self.pos += count * struct.calcsize(_SCALARS[inner])
            return f"<array of {count}>"
        return [self.scalar(inner) for _ in range(count)]


def _parse(buf: Any) -> tuple[dict[str, Any], list[tuple[str, int, list[int]]]]:
    if bytes(buf[:4]) != b"GGUF":
        raise ValueError("no GGUF magic at the start")
    h = _Header(buf)
    h.pos = 4
    version = h.scalar(4)
    if version not in (2, 3):
        raise ValueError(f"GGUF version {version} (big-endian or unknown); versions 2 and 3 are read")
    n_tensors, n_kv = h.scalar(10), h.scalar(10)
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = h.string()
        metadata[key] = h.value(h.scalar(4))
    tensors = []
    for _ in range(n_tensors):
        name = h.string()
        dims = [h.scalar(10) for _ in range(h.scalar(4))]
        kind = h.scalar(4)
        h.scalar(10)  # the data offset: not needed
        tensors.append((name, kind, dims))
    return metadata, tensors


def read_gguf(path: str | os.PathLike[str]) -> GGUFInfo:
    """Parse the header of the GGUF file at ``path`` (metadata and tensor table; the weights are not read).
    Raises ``ValueError`` naming the file if it is not one."""
    with needs():
        import gguf

    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            metadata, raw = _parse(buf)
    except (ValueError, KeyError, IndexError, OSError, struct.error) as exc:
        raise ValueError(f"{path} is not a readable GGUF file: {exc}") from exc
    tensors: list[tuple[str, str, int, int]] = []
    bits: dict[str, float] = {}
    for name, kind, dims in raw:
        try:
            ggml_type = gguf.GGMLQuantizationType(kind)
        except ValueError as exc:
            raise ValueError(f"{path}: tensor {name} has a type ({kind}) this gguf package does not know") from exc
        label = type_name(ggml_type)
        bits.setdefault(label, bits_per_weight(ggml_type))
        tensors.append((name, label, math.prod(dims), dims[0] if dims else 1))
    return GGUFInfo(metadata, tensors, bits)
