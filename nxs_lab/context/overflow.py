"""Deprecated home of the overflow wording: it lives beside the boundary that reads it, in
:mod:`nxs_lab.client.overflow`. Kept as a re-export for one release."""

from ..client.overflow import OverflowInfo, parse_overflow

__all__ = ["OverflowInfo", "parse_overflow"]
