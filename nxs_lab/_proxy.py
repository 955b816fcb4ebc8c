"""Which proxy, if any, a request to a URL goes through: the user's settings, then the environment.

    >>> proxy_for("https://api.moonshot.ai/v1", None)      # with HTTPS_PROXY=http://proxy:3128 set   # doctest: +SKIP
    'http://proxy:3128'

* A loopback host is never proxied, whatever is set.
* A provider's own ``proxy`` setting wins: a URL (used for its host even on the LAN or a tailnet), or ``False``
  (never a proxy).
* Otherwise the environment, as curl and Python read it: ``HTTPS_PROXY`` / ``HTTP_PROXY`` by the URL's scheme, else
  ``ALL_PROXY`` (each in either case), and ``NO_PROXY``, for public hosts only. A machine on the LAN or the tailnet is
  reached directly: a corporate proxy cannot reach it, and a private prompt has no business passing through it.

The kit's own transports take the proxy, so every byte cap and deadline still holds through it. The proxy URL may
carry credentials: it is never shown (see :func:`shown`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import urllib.request
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from ._net import Scope, redact_url, url_scope

__all__ = ["ProxySetting", "proxy_for", "shown"]

ProxySetting = SecretStr | Literal[False] | None  # a URL, never, or (None) the environment's for public hosts


def proxy_for(url: str, setting: ProxySetting) -> str | None:
    """The proxy URL for requests to ``url``, or ``None`` to connect directly."""
    if setting is False:
        return None
    scope = url_scope(url)
    if scope is Scope.LOOPBACK:
        return None
    if setting is not None:
        return setting.get_secret_value() or None
    if scope is Scope.PRIVATE:
        return None
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()  # *_proxy in either case, as curl reads them
    if _bypassed(parts.hostname or "", proxies.get("no", "")):
        return None
    chosen = proxies.get(parts.scheme) or proxies.get("all")
    return chosen or None


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` names ``host``: ``*``, the host or a domain it is in (``example.com`` and
    ``.example.com`` both cover ``api.example.com``), or a network it is in (``10.0.0.0/8``); ports are ignored."""
    host = host.strip("[]").lower()
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry  # "host:port" (not an IPv6 address)
        name = name.strip("[]").lstrip(".")
        if host == name or host.endswith("." + name):
            return True
        with contextlib.suppress(ValueError):  # not an address or a network: a name, compared above
            if ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False):
                return True
    return False


def shown(proxy: str | None) -> str:
    """The proxy as it may be shown: without its credentials."""
    return redact_url(proxy) if proxy else "none"
