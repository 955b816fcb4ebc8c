"""The embedded server's front door: which requests may reach llama-cpp-python's app at all.

llama-cpp-python answers any web page open in the user's browser (CORS ``*`` with credentials), and a page can
reach a loopback server through DNS rebinding (its own name resolving to 127.0.0.1). So, in front of the app:

- a server bound to loopback answers only requests whose ``Host`` is a loopback name (``127.0.0.1``,
  ``localhost``, ``[::1]``): a rebinding page's ``Host`` is its own name, and is refused;
- a request from a browser page (an ``Origin`` header) is refused unless the page itself is on this machine
  (a loopback origin) or on this very server;
- the API key, when set, is compared in constant time (``hmac.compare_digest``), on every path.

A plain ASGI middleware: no web framework is imported here.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from .._net import is_loopback

__all__ = ["FrontDoor", "host_of"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def host_of(value: str) -> str:
    """The host part of a ``Host`` header or an origin's netloc, lower-case, without port or brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _is_loopback(host: str) -> bool:
    return bool(host) and is_loopback(host)


class FrontDoor:
    """Wraps an ASGI app: refuses foreign ``Host``s (on loopback binds), foreign ``Origin``s, wrong keys."""

    def __init__(self, app: ASGIApp, *, loopback_only: bool, api_key: str | None) -> None:
        self.app = app
        self.loopback_only = loopback_only
        self._key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self.refusal(headers)
        if refusal is not None:
            status, message = refusal
            await _answer(send, status, message)
            return
        await self.app(scope, receive, send)

    def refusal(self, headers: dict[str, str]) -> tuple[int, str] | None:
        """``(status, message)`` for a request that must not reach the app, else ``None``."""
        host = host_of(headers.get("host", ""))
        if self.loopback_only and not _is_loopback(host):
            return 421, "this server answers only to loopback names (127.0.0.1, localhost)"
        origin = headers.get("origin")
        if origin is not None:  # a browser page; "null" (a sandboxed page, a file) has no host and is refused
            origin_host = host_of(urlsplit(origin).netloc) if origin != "null" else ""
            if not origin_host or not (_is_loopback(origin_host) or origin_host == host):
                return 403, "requests from other web sites are refused"
        if self._key is not None:
            given = headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._key):
                return 401, "Invalid API key"
        return None


async def _answer(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "refused", "code": status}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
