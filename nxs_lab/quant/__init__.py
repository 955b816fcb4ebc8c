"""Quantization: make GGUF variants (``make``), measure them (``measure``, ``endpoints``), report (``report``),
and recommend one for this machine's memory (``memory``)."""

from .endpoints import EndpointMeasure, compare_endpoints
from .make import QUANT_TYPES, QuantVariant, quantize
from .measure import VariantMeasure, compare_quantizations, shipped_eval_text
from .memory import MemoryEstimate, Recommendation, available_memory_mb, estimate_memory, runtime_overhead_mb
from .report import QuantReport

__all__ = [
    "QUANT_TYPES",
    "EndpointMeasure",
    "MemoryEstimate",
    "QuantReport",
    "QuantVariant",
    "Recommendation",
    "VariantMeasure",
    "available_memory_mb",
    "compare_endpoints",
    "compare_quantizations",
    "estimate_memory",
    "quantize",
    "runtime_overhead_mb",
    "shipped_eval_text",
]
