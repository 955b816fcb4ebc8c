"""Where a host is: loopback, a private network (LAN, Tailscale) or the public internet. One home for that fact.

Used for default timeouts (near hosts answer fast), for what discovery may scan, for whether a
server the kit starts is reachable by other machines, and for whether a found server is exposed.
"""

from __future__ import annotations

import enum
import ipaddress
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "TAILNET_V4", "TAILNET_V6", "Scope", "address_scope", "host_scope", "is_loopback", "is_tailnet", "redact_url",
    "url_scope",
]  # fmt: skip

# Tailscale hands out addresses from the CGNAT range and its own IPv6 ULA prefix.
TAILNET_V4 = ipaddress.ip_network("100.64.0.0/10")
TAILNET_V6 = ipaddress.ip_network("fd7a:115c:a1e0::/48")
# Names that only resolve inside a home or a tailnet.
_PRIVATE_SUFFIXES = (".local", ".lan", ".home.arpa", ".ts.net")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Scope(str, enum.Enum):
    LOOPBACK = "loopback"
    PRIVATE = "private"  # RFC 1918, link-local, Tailscale, ULA, and names only a LAN resolves
    PUBLIC = "public"


def address_scope(ip: IPAddress) -> Scope:
    """The scope of an IP address."""
    if ip.is_loopback:
        return Scope.LOOPBACK
    if ip.is_private or ip.is_link_local or ip in TAILNET_V4 or ip in TAILNET_V6:
        return Scope.PRIVATE
    return Scope.PUBLIC


def host_scope(host: str) -> Scope:
    """The scope of a host name or address (without port or brackets)."""
    host = host.strip("[]").lower()
    if host in ("localhost", "") or host.endswith(".localhost"):
        return Scope.LOOPBACK
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        # A single-label name ("nas", "gpu-box") resolves only on the local network.
        return Scope.PRIVATE if host.endswith(_PRIVATE_SUFFIXES) or "." not in host else Scope.PUBLIC
    return address_scope(ip)


def url_scope(url: str) -> Scope:
    """The scope of a URL's host."""
    return host_scope(urlsplit(url).hostname or "")


def is_tailnet(host: str) -> bool:
    """Whether an address is a Tailscale one (100.64.0.0/10, fd7a:115c:a1e0::/48): reachable from the user's own
    tailnet only, the safe way to reach a home box, never "exposed"."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.lower().endswith(".ts.net")
    return ip in TAILNET_V4 or ip in TAILNET_V6


def is_loopback(host: str) -> bool:
    """Whether a bind or target address stays on this machine (``0.0.0.0`` and ``::`` do not)."""
    return host_scope(host) is Scope.LOOPBACK


def redact_url(url: str) -> str:
    """Drop any ``user:password@`` from a URL before it is shown."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, "***@" + host, parts.path, parts.query, parts.fragment))
