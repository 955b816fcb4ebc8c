"""What one request may spend, enforced where the bytes arrive: a deadline and a cap on reply bytes.

httpx's timeouts bound each read, not the reply: a server that drips one byte a second never trips
them, and nothing stops a 300 MB body. The kit's transports therefore wrap the network streams under
the connection pool. Each read and write asks the :class:`Allowance` active in the calling context for
its timeout (never past the deadline) and counts what arrived against the cap. The allowance is set in
the caller's context (a ``ContextVar``) around a call, so a pooled connection serves each request
under that request's own allowance, sync or async, and a deadline is armed *before* anything is sent.
Deadlines measure the server: time a request waits for a connection in the pool is given back to them once it
has one (:attr:`Allowance.pooled`), and a first-byte limit starts at the first read.

When a allowance runs out, the read fails with httpcore's own ``ReadTimeout`` / ``ReadError`` (so the
connection is discarded the usual way) and :attr:`Allowance.tripped` says why; the caller turns that into
the kit's error with its own words (total timeout, idle timeout, reply too large).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import anyio
import httpcore2
import httpx2

__all__ = [
    "IDENTITY",
    "STALE_RETRIES",
    "Allowance",
    "AllowanceTransport",
    "AsyncAllowanceTransport",
    "counting_resent",
]

log = logging.getLogger("nxs_lab.client")

# Replies are asked for uncompressed: a compressed body is counted before it expands, so 400 KB of gzip could
# still become 400 MB. JSON and server-sent events from a model server are small next to the time they take.
IDENTITY = {"Accept-Encoding": "identity"}

_CURRENT: contextvars.ContextVar[Allowance | None] = contextvars.ContextVar("nxs_lab_allowance", default=None)
# Set around one try of a request: whether the pool opened a fresh connection for it (else it reused one).
_OPENED: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("nxs_lab_opened", default=None)
# Set around one try of a request: when it was handed to the pool (``[monotonic()]``, emptied once it is on the wire).
_HANDED: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("nxs_lab_handed", default=None)
# How often a request that failed on a reused connection is sent again; each failed connection is discarded, so a
# pool of idle connections the server closed meanwhile costs one try each, and then a fresh one answers.
STALE_RETRIES = 3
# What a connection the server had already closed looks like when a request is written to it or its reply awaited.
_STALE = (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError)


class Allowance:
    """A deadline (``time.monotonic()`` seconds, or ``None``) and a cap on reply bytes (or ``None``).

    Both can change between uses: a stream moves its deadline on with every chunk while ``received``
    keeps counting the whole reply. ``tripped`` is ``"deadline"``, ``"bytes"`` or ``"encoding"`` (a compressed
    reply, refused) once a limit was hit.
    """

    __slots__ = (
        "cancelled", "deadline", "first_byte", "max_bytes", "parent", "pooled", "received", "resent", "sock",
        "tripped",
    )  # fmt: skip

    def __init__(self, *, deadline: float | None = None, max_bytes: int | None = None) -> None:
        self.deadline = deadline
        # Seconds the reply may take once the request is on the wire: armed (into ``deadline``, never past it) when
        # the first read begins, so the client's own start-up (its pool, the connect) never counts against it.
        self.first_byte: float | None = None
        self.max_bytes = max_bytes
        self.received = 0
        self.tripped: str | None = None
        self.sock: Any = None  # the socket last used under this allowance (to wake a blocked read: shutdown())
        self.parent: Allowance | None = None  # the allowance active where this one was activated: both hold
        self.cancelled = False
        self.resent = 0  # requests sent again on a fresh connection after a reused one had been closed
        # Seconds requests under it waited for a free connection in the client's own pool. Not the server's time:
        # the deadline moves on by as much (the wait has its own bound, ``defaults.POOL_WAIT``: ClientBusy).
        self.pooled = 0.0

    def cancel(self) -> None:
        """From any thread: fail the read or write in progress now (its socket is shut down) and every later one."""
        self.cancelled = True
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                return  # already closed: the read has ended by itself

    @classmethod
    def within(cls, seconds: float | None, max_bytes: int | None) -> Allowance:
        """A allowance ending ``seconds`` from now (no deadline for ``None``)."""
        return cls(deadline=None if seconds is None else time.monotonic() + seconds, max_bytes=max_bytes)

    @staticmethod
    def passed() -> bool:
        """Whether a deadline of an allowance active here has passed (what was learned under it is incomplete)."""
        b, now = _CURRENT.get(), time.monotonic()
        return b is not None and any(
            x.tripped == "deadline" or (x.deadline is not None and now >= x.deadline) for x in b._chain()
        )

    @contextlib.contextmanager
    def active(self) -> Iterator[Allowance]:
        """Apply this allowance to every request made in the current context until the block ends. A allowance
        already active there (say, a scan's allowance for one device) keeps holding too: the nearer limit wins."""
        outer = _CURRENT.get()
        self.parent = outer if outer is not self else None
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def _chain(self) -> Iterator[Allowance]:
        seen: list[Allowance] = []
        b: Allowance | None = self
        while b is not None and b not in seen:  # a allowance re-activated inside its own child: no cycle
            seen.append(b)
            yield b
            b = b.parent

    # ------------------------------------------------------------ used by the streams below

    def arm_first_byte(self) -> None:
        """The request is written and its reply awaited: from now, ``first_byte`` seconds at most."""
        if self.first_byte is not None:
            end = time.monotonic() + self.first_byte
            self.deadline = end if self.deadline is None else min(self.deadline, end)
            self.first_byte = None

    def _timeout(self, timeout: float | None, error: type[Exception]) -> float | None:
        now = time.monotonic()
        for b in self._chain():
            if b.cancelled:
                raise error("the request was stopped")
            if b.deadline is None:
                continue
            left = b.deadline - now
            if left <= 0:
                b.tripped = "deadline"
                raise error("the request's deadline passed")
            timeout = left if timeout is None else min(timeout, left)
        return timeout

    def _timed_out(self) -> None:
        # Called when an operation timed out: was it a deadline (and not the per-read timeout)?
        now = time.monotonic()
        for b in self._chain():
            if b.deadline is not None and now >= b.deadline - 0.005:
                b.tripped = "deadline"

    def _took(self, n: int) -> None:
        for b in self._chain():
            b.received += n
            if b.max_bytes is not None and b.received > b.max_bytes:
                b.tripped = "bytes"
                raise httpcore2.ReadError(f"the reply is larger than {b.max_bytes} bytes")


@contextlib.contextmanager
def counting_resent() -> Iterator[Allowance]:
    """Count what the transport sends again on a fresh connection in the block (``.resent``); no limits of its own."""
    watch = Allowance()
    with watch.active():
        yield watch


def _on_wire() -> None:
    """The request being tried has its connection (a fresh one is being opened, or a reused one written to): the
    time it waited for it in the pool is given back to every deadline over it, once."""
    handed = _HANDED.get()
    if not handed:
        return
    waited = time.monotonic() - handed.pop()
    b = _CURRENT.get()
    for each in b._chain() if b is not None else ():
        each.pooled += waited
        if each.deadline is not None:
            each.deadline += waited


def _arm_first_byte() -> None:
    b = _CURRENT.get()
    if b is not None:
        b.arm_first_byte()


def _bounded(inner: Any, timeout: float | None, error: type[Exception]) -> tuple[Allowance | None, float | None]:
    """The allowance active here (remembering the socket it now uses) and the timeout it allows this operation."""
    b = _CURRENT.get()
    if b is None:
        return None, timeout
    b.sock = inner.get_extra_info("socket")
    return b, b._timeout(timeout, error)


@contextlib.contextmanager
def _timing(b: Allowance | None, error: type[Exception]) -> Iterator[None]:
    """Around one operation: a timeout it raises is checked against the allowance's deadlines."""
    try:
        yield
    except error:
        if b is not None:
            b._timed_out()
        raise


class _Stream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        _arm_first_byte()
        b, bounded = _bounded(self._inner, timeout, httpcore2.ReadTimeout)
        with _timing(b, httpcore2.ReadTimeout):
            data = self._inner.read(max_bytes, bounded)
        if b is not None:
            b._took(len(data))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _on_wire()
        b, bounded = _bounded(self._inner, timeout, httpcore2.WriteTimeout)
        with _timing(b, httpcore2.WriteTimeout):
            self._inner.write(buffer, bounded)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.NetworkStream:
        _, bounded = _bounded(self._inner, timeout, httpcore2.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _connect_timeout(timeout: float | None) -> float | None:
    b = _CURRENT.get()
    return b._timeout(timeout, httpcore2.ConnectTimeout) if b is not None else timeout


class _Backend(httpcore2.NetworkBackend):
    def __init__(self, inner: httpcore2.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        _on_wire()
        bounded = _connect_timeout(timeout)
        _opened()
        return _Stream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore2.AsyncNetworkStream):
    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        _arm_first_byte()
        b, bounded = _bounded(self._inner, timeout, httpcore2.ReadTimeout)
        with _timing(b, httpcore2.ReadTimeout):
            data = await self._inner.read(max_bytes, bounded)
        if b is not None:
            b._took(len(data))
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _on_wire()
        b, bounded = _bounded(self._inner, timeout, httpcore2.WriteTimeout)
        with _timing(b, httpcore2.WriteTimeout):
            await self._inner.write(buffer, bounded)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        _, bounded = _bounded(self._inner, timeout, httpcore2.ConnectTimeout)
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


# The watchdog below counts a connect timeout in this many steps.
_CONNECT_STEPS = 10


async def _connect_within(
    connect: Callable[[float | None], Awaitable[httpcore2.AsyncNetworkStream]],
    timeout: float | None,
    wall: float | None,
) -> httpcore2.AsyncNetworkStream:
    """``connect(wall)``, given up with ``ConnectTimeout`` once ``timeout`` seconds of the event loop's own
    time have passed.

    A connect on loopback or a LAN is answered within milliseconds, so its timeout is short (0.5 s on
    loopback). When the client's loop is starved (hundreds of calls at once, or threads holding the GIL), a
    wall-clock timeout fires before the connect has even been tried, and a healthy server is taken for dead:
    200 concurrent calls beside two busy threads lost 192 to loopback "connect timeouts". So the timeout is
    kept by a watchdog that sleeps it in tenths and counts each tenth once, however late it wakes: time the
    loop could not run is not held against the server. A allowance's deadline (``wall``) stays wall-clock.
    """
    if timeout is None:
        return await connect(wall)
    stream: httpcore2.AsyncNetworkStream | None = None
    error: Exception | None = None

    async def watch(scope: anyio.CancelScope) -> None:
        for _ in range(_CONNECT_STEPS):
            await anyio.sleep(timeout / _CONNECT_STEPS)
        scope.cancel()

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, scope)
            try:
                stream = await connect(wall)
            except Exception as exc:  # noqa: BLE001 - re-raised below, outside the task group (no ExceptionGroup)
                error = exc
            tg.cancel_scope.cancel()
    if error is not None:
        raise error
    if stream is None:  # only the watchdog cancels this scope; the caller's own cancellation passes through it
        raise httpcore2.ConnectTimeout(f"no connection within {timeout:g} s")
    return stream


class _AsyncBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self, inner: httpcore2.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        _on_wire()
        bounded = _connect_timeout(timeout)
        _opened()
        wall = bounded if timeout is None or (bounded is not None and bounded < timeout) else None

        def connect(seconds: float | None) -> Awaitable[httpcore2.AsyncNetworkStream]:
            return self._inner.connect_tcp(host, port, seconds, local_address, socket_options)

        return _AsyncStream(await _connect_within(connect, timeout, wall))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _AsyncStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _opened() -> None:
    """The pool is opening a fresh connection for the request being tried."""
    mark = _OPENED.get()
    if mark is not None:
        mark.append(True)


def _replayable(request: httpx2.Request) -> bool:
    try:
        request.content  # noqa: B018 - raises for a streamed body, which cannot be sent twice
    except httpx2.RequestNotRead:
        return False
    return True


def _stale(exc: Exception, mark: list[bool], request: httpx2.Request, tries: int) -> bool:
    """Whether a failed try is a reused connection the server had closed, worth sending again at once: it failed
    before any byte of the reply, on a connection the pool did not open for it, and the body can be sent again.
    A failure on a fresh connection is the server's, and counts."""
    if not isinstance(exc, _STALE) or mark or tries > STALE_RETRIES or not _replayable(request):
        return False
    log.debug("%s %s: a reused connection was closed by the server (%s); sent again", request.method, request.url, exc)
    b = _CURRENT.get()
    for each in b._chain() if b is not None else ():
        each.resent += 1
    return True


def _refuse_encoded(response: httpx2.Response) -> None:
    """Raise for a compressed reply: it was not asked for (:data:`IDENTITY`) and its size cannot be capped."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return
    b = _CURRENT.get()
    if b is not None:
        b.tripped = "encoding"
    raise httpx2.DecodingError(f"the server sent a {encoding[:40]}-encoded reply though none was asked for")


class AllowanceTransport(httpx2.HTTPTransport):
    """httpx2's transport with every connection's reads and writes held to the active :class:`Allowance`,
    refusing compressed replies.

    httpx2 takes no network backend, so the pool it builds gets ours wrapped around its own
    (``tests/test_reply_limits.py`` pins the attribute this relies on).
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._pool._network_backend = _Backend(self._pool._network_backend)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        tries = 0
        while True:
            tries += 1
            mark: list[bool] = []
            token, handed = _OPENED.set(mark), _HANDED.set([time.monotonic()])
            try:
                response = super().handle_request(request)
                break
            except _STALE as exc:
                if not _stale(exc, mark, request, tries):
                    raise
            finally:
                _OPENED.reset(token)
                _HANDED.reset(handed)
        try:
            _refuse_encoded(response)
        except httpx2.DecodingError:
            response.close()
            raise
        return response


class AsyncAllowanceTransport(httpx2.AsyncHTTPTransport):
    """The async twin of :class:`AllowanceTransport`."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._pool._network_backend = _AsyncBackend(self._pool._network_backend)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        tries = 0
        while True:
            tries += 1
            mark: list[bool] = []
            token, handed = _OPENED.set(mark), _HANDED.set([time.monotonic()])
            try:
                response = await super().handle_async_request(request)
                break
            except _STALE as exc:
                if not _stale(exc, mark, request, tries):
                    raise
            finally:
                _OPENED.reset(token)
                _HANDED.reset(handed)
        try:
            _refuse_encoded(response)
        except httpx2.DecodingError:
            await response.aclose()
            raise
        return response
