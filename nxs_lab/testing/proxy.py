"""A real forward HTTP proxy on loopback that records what passes through it, for tests of proxy settings.

    >>> with RecordingProxy(upstream="http://127.0.0.1:8001") as proxy:      # doctest: +SKIP
    ...     os.environ["HTTP_PROXY"] = proxy.url
    ...     ...                                      # proxy.seen: the absolute URLs it was asked for

Every request it is sent (absolute-form, as clients send them to a proxy) is forwarded to ``upstream`` whatever
host it names, so a test can use a public-looking name no resolver knows; the reply is relayed whole.
"""

from __future__ import annotations

import http.client
import http.server
import threading
from urllib.parse import urlsplit

__all__ = ["RecordingProxy"]

_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "transfer-encoding", "te", "upgrade"}


class RecordingProxy:
    """A forward proxy to ``upstream``; ``seen`` lists ``(method, url, proxy_authorization)`` in order."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.seen: list[tuple[str, str, str | None]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _relay(self) -> None:
                proxy.seen.append((self.command, self.path, self.headers.get("Proxy-Authorization")))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = urlsplit(self.path)
                path = (target.path or "/") + (f"?{target.query}" if target.query else "")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"host"}}
                up = http.client.HTTPConnection(proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=30)
                try:
                    up.request(self.command, path, body=body or None, headers=headers)
                    reply = up.getresponse()
                    data = reply.read()
                    self.send_response(reply.status)
                    for k, v in reply.getheaders():
                        if k.lower() not in _HOP | {"content-length"}:
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    up.close()

            do_GET = do_POST = _relay

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
