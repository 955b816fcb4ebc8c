"""Read a GGUF file's header: metadata keys and each tensor's type and shape, without loading weights.

Used to report what a quantization really produced: llama.cpp falls back to other types for tensors
whose rows do not fit a K-quant block (SmolLM2's 576-wide rows, for one), so the label is not the mix.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

__all__ = ["GGUFInfo", "read_gguf"]

# ggml type id -> (name, bits per weight)
GGML_TYPES: dict[int, tuple[str, float]] = {
    0: ("f32", 32.0), 1: ("f16", 16.0), 2: ("q4_0", 4.5), 3: ("q4_1", 5.0), 6: ("q5_0", 5.5), 7: ("q5_1", 6.0),
    8: ("q8_0", 8.5), 9: ("q8_1", 9.0), 10: ("q2_K", 2.625), 11: ("q3_K", 3.4375), 12: ("q4_K", 4.5),
    13: ("q5_K", 5.5), 14: ("q6_K", 6.5625), 15: ("q8_K", 9.125), 16: ("iq2_xxs", 2.0625), 17: ("iq2_xs", 2.3125),
    18: ("iq3_xxs", 3.0625), 19: ("iq1_s", 1.5625), 20: ("iq4_nl", 4.5), 21: ("iq3_s", 3.4375), 22: ("iq2_s", 2.5),
    23: ("iq4_xs", 4.25), 24: ("i8", 8.0), 25: ("i16", 16.0), 26: ("i32", 32.0), 27: ("i64", 64.0),
    28: ("f64", 64.0), 29: ("iq1_m", 1.75), 30: ("bf16", 16.0),
}
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


@dataclass(frozen=True, slots=True)
class GGUFInfo:
    version: int
    metadata: dict[str, Any]
    tensors: list[tuple[str, str, int]]  # (name, type, elements)

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
        bits = {name: b for name, b in GGML_TYPES.values()}
        total = self.parameters
        return sum(n * bits.get(t, 0.0) for _, t, n in self.tensors) / total if total else 0.0


def _read(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("truncated GGUF header")
    return struct.unpack(fmt, data)[0]


def _string(fh: BinaryIO) -> str:
    n = _read(fh, "<Q")
    return fh.read(n).decode("utf-8", "replace")


def _value(fh: BinaryIO, vtype: int) -> Any:
    if vtype in _SCALARS:
        return _read(fh, _SCALARS[vtype])
    if vtype == 8:
        return _string(fh)
    if vtype == 9:
        itype, count = _read(fh, "<I"), _read(fh, "<Q")
        items = [_value(fh, itype) for _ in range(count)]
        return items if count <= 64 else f"<array of {count}>"  # vocabularies are not worth keeping here
    raise ValueError(f"unknown GGUF value type {vtype}")


def read_gguf(path: str | os.PathLike[str]) -> GGUFInfo:
    """Parse the header of the GGUF file at ``path``."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version = _read(fh, "<I")
        n_tensors, n_kv = _read(fh, "<Q"), _read(fh, "<Q")
        metadata = {}
        for _ in range(n_kv):
            key = _string(fh)
            metadata[key] = _value(fh, _read(fh, "<I"))
        tensors = []
        for _ in range(n_tensors):
            name = _string(fh)
            dims = [_read(fh, "<Q") for _ in range(_read(fh, "<I"))]
            ttype = _read(fh, "<I")
            _read(fh, "<Q")  # offset
            n = 1
            for d in dims:
                n *= d
            tensors.append((name, GGML_TYPES.get(ttype, (f"type{ttype}", 0.0))[0], n))
    return GGUFInfo(version, metadata, tensors)
