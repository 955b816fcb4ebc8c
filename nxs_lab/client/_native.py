"""JSON over HTTP to a server's native endpoints (``/api/v0/models``, ``/props``, ``/tokenize`` …).

The server adapters read model metadata through this; the openai SDK is not involved. It is
synchronous on purpose: adapters are written once, and the async provider runs them on a thread.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

from .._proxy import proxy_for, shown
from ..config import ProviderConfig, Timeouts
from ..defaults import POOL_WAIT
from ..errors import ConfigError, InvalidResponse, ResponseTimeout
from ._allowance import IDENTITY, Allowance, AllowanceTransport
from ._boundary import limited, status_error, translated

__all__ = ["NativeHTTPClient", "auth_headers", "httpx_timeout", "native_seconds", "native_timeout", "url_for"]


def httpx_timeout(t: Timeouts) -> httpx2.Timeout:
    # Waiting for a slot in our own pool is queueing, not a sign the server is down: it has its own bound.
    return httpx2.Timeout(connect=t.connect, read=t.first_byte, write=t.first_byte, pool=max(t.first_byte, POOL_WAIT))


def proxy_transport_arg(config: ProviderConfig) -> httpx2.Proxy | None:
    """The proxy for the kit's own transport to this provider (see :mod:`nxs_lab._proxy`), or ``None``: through
    the transport, so its byte caps and deadlines hold to the proxy and through it."""
    url = proxy_for(config.base_url, config.proxy)
    if url is None:
        return None
    scheme = url.split("://", 1)[0].lower()
    if scheme.startswith("socks"):
        try:
            import socksio  # noqa: F401 - httpx2 needs it for SOCKS proxies
        except ImportError:
            raise ConfigError(
                f"provider {config.name!r}",
                [("proxy", f"a SOCKS proxy ({shown(url)}) needs the socksio package: pip install socksio")],
            ) from None
    elif scheme not in ("http", "https"):
        raise ConfigError(f"provider {config.name!r}", [("proxy", f"{shown(url)} is not an http, https or socks URL")])
    return httpx2.Proxy(url)


def native_seconds(config: ProviderConfig) -> float:
    """Seconds one metadata call (model list, props, tokenize) may take: ``timeouts.total`` when set, else
    ``first_byte`` (such replies are small: once the server starts answering it is done at once)."""
    t = config.resolved_timeouts()
    return t.total if t.total is not None else t.first_byte


def native_timeout(config: ProviderConfig, path: str, seconds: float) -> ResponseTimeout:
    return ResponseTimeout(
        f"{path} did not answer completely within {seconds:g} s", provider=config.name, base_url=config.base_url
    )


def auth_headers(config: ProviderConfig) -> dict[str, str]:
    """The Authorization header: the API key as a bearer token, or basic-auth credentials; none for neither."""
    if config.api_key is not None:
        return {"Authorization": f"Bearer {config.api_key.get_secret_value()}"}
    if config.basic_auth is not None:
        token = base64.b64encode(config.basic_auth.get_secret_value().encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}
    return {}


def url_for(base_url: str, path: str) -> str:
    """``path`` relative to the server root if it starts with ``/``, else to ``base_url``."""
    if path.startswith("/"):
        parts = urlsplit(base_url)
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return f"{base_url}/{path}"


def decode_json(resp: httpx2.Response, path: str, config: ProviderConfig) -> Any:
    """The reply's JSON, or the kit's error for a failed or non-JSON reply."""
    body: Any
    try:
        body = resp.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep to decode
        body = resp.content[:500].decode("utf-8", "replace")
        if resp.is_success:
            raise InvalidResponse(
                f"{path} did not return JSON (content-type {resp.headers.get('content-type', '?')})",
                provider=config.name,
                base_url=config.base_url,
                status=resp.status_code,
            ) from None
    if not resp.is_success:
        raise status_error(
            resp.status_code, body, resp.headers, provider=config.name, base_url=config.base_url, path=path
        )
    return body


class NativeHTTPClient:
    """``get_json`` / ``post_json`` against one server, on a connection pool opened on first use.

    ``close()`` releases the pool; a later call opens a new one, so a client shared by a provider
    and its async twin stays usable whichever of them closes first.
    """

    def __init__(self, config: ProviderConfig, transport: httpx2.BaseTransport | None = None) -> None:
        self.config = config
        self._transport = transport
        self._http: httpx2.Client | None = None
        self._lock = threading.Lock()

    @property
    def http(self) -> httpx2.Client:
        with self._lock:
            if self._http is None:
                limits = httpx2.Limits(max_connections=16, max_keepalive_connections=4)
                self._http = httpx2.Client(
                    timeout=httpx_timeout(self.config.resolved_timeouts()),
                    transport=self._transport
                    or AllowanceTransport(limits=limits, proxy=proxy_transport_arg(self.config)),
                    headers=IDENTITY,
                )
            return self._http

    def get_json(self, path: str) -> Any:
        return self._request("GET", path)

    def post_json(self, path: str, payload: Any) -> Any:
        return self._request("POST", path, payload)

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        cfg = self.config
        seconds = native_seconds(cfg)
        allowance = Allowance.within(seconds, cfg.max_response_bytes)
        with (
            translated(cfg.name, cfg.base_url),
            limited(allowance, lambda: native_timeout(cfg, path, seconds), cfg.name, cfg.base_url),
        ):
            resp = self.http.request(method, url_for(cfg.base_url, path), json=payload, headers=auth_headers(cfg))
        return decode_json(resp, path, cfg)

    def stream_lines(self, path: str, payload: Any) -> Iterator[Any]:
        """POST ``payload`` and yield each JSON line of the reply as it arrives (an NDJSON stream: Ollama's native
        chat). No allowance of its own: the caller's (a chat stream's first-byte and idle limits) governs each read."""
        cfg = self.config
        url = url_for(cfg.base_url, path)
        with (
            translated(cfg.name, cfg.base_url),
            self.http.stream("POST", url, json=payload, headers=auth_headers(cfg)) as resp,
        ):
            if not resp.is_success:
                resp.read()
                decode_json(resp, path, cfg)  # raises the kit's error for the status
            for line in resp.iter_lines():
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    raise InvalidResponse(
                        f"{path} streamed a line that is not JSON: {line[:100]!r}",
                        provider=cfg.name,
                        base_url=cfg.base_url,
                    ) from None

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
            self._http = None
