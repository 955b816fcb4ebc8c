"""ipywidgets panels. They observe and drive core objects and hold no logic of their own.

Imported on demand: ``from nxs_lab.ui import DiscoveryPanel``. The core (``nxs_lab``) never imports this.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"ChatPanel": "chat", "DiscoveryPanel": "discovery", "QuantPanel": "quant", "ToolPanel": "tools"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nxs_lab.ui' has no attribute {name!r}")
    try:
        return getattr(importlib.import_module(f".{module}", __name__), name)
    except ImportError as exc:
        if "ipywidgets" in str(exc):
            from ..errors import MissingDependency

            raise MissingDependency("ipywidgets", "notebooks") from exc
        raise
