"""Find the LLM servers that are up (loopback, LAN, tailnet) and what they serve."""

from ..defaults import DEFAULT_PORTS
from ._targets import tailnet_peers
from .endpoints import Endpoint, Endpoints
from .scan import adiscover, discover

__all__ = ["DEFAULT_PORTS", "Endpoint", "Endpoints", "adiscover", "discover", "tailnet_peers"]
