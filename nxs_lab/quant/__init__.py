"""Quantization: make GGUF variants (``make``), measure them (``measure``, ``endpoints``), report (``report``),
and recommend one for this machine's memory (``memory``); which models fit it (``shapes``, ``files``, ``fit``)."""

from .files import ModelFile, default_model_folders, find_model_files
from .fit import ModelFit, ModelFits, recommend_models
from .make import QUANT_TYPES, QuantVariant, quantize
from .measure import VariantMeasure, compare_quantizations, shipped_eval_text
from .memory import (
    MemoryEstimate,
    Recommendation,
    available_memory_mb,
    estimate_memory,
    runtime_overhead_mb,
    shape_memory,
)
from .quant_report import QuantReport
from .served import EndpointMeasure, compare_endpoints
from .shapes import PUBLISHED, TYPICAL_BPW, ModelShape, published_shapes, shape_from_gguf

__all__ = [
    "PUBLISHED",
    "QUANT_TYPES",
    "TYPICAL_BPW",
    "EndpointMeasure",
    "MemoryEstimate",
    "ModelFile",
    "ModelFit",
    "ModelFits",
    "ModelShape",
    "QuantReport",
    "QuantVariant",
    "Recommendation",
    "VariantMeasure",
    "available_memory_mb",
    "compare_endpoints",
    "compare_quantizations",
    "default_model_folders",
    "estimate_memory",
    "find_model_files",
    "published_shapes",
    "quantize",
    "recommend_models",
    "runtime_overhead_mb",
    "shape_from_gguf",
    "shape_memory",
    "shipped_eval_text",
]
