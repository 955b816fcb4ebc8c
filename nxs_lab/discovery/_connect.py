"""Non-blocking TCP connects under a concurrency bound, watched together with one selector.

A loopback or LAN refusal comes back from ``connect_ex`` at once, so most probes never wait; the rest are
watched together, at most ``limit`` at a time, each for at most ``timeout`` seconds.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections.abc import Callable, Iterator

__all__ = ["Progress", "connect_scan"]

Progress = Callable[[int, int], None]
Target = tuple[str, int]


class _ConnectScan:
    def __init__(self, targets: list[Target], timeout: float, limit: int, report: Progress | None) -> None:
        self.targets: Iterator[Target] = iter(targets)
        self.total = len(targets)
        self.timeout = timeout
        self.limit = limit
        self.report = report
        self.sel = selectors.DefaultSelector()
        self.pending: dict[socket.socket, tuple[Target, float]] = {}
        self.found: dict[Target, float] = {}
        self.done = 0
        self.exhausted = False

    def run(self) -> dict[Target, float]:
        try:
            while True:
                self._start_more()
                if not self.pending:
                    return self.found
                self._collect_ready()
                self._expire()
        finally:
            for sock in self.pending:
                sock.close()
            self.sel.close()

    def _finish(self) -> None:
        self.done += 1
        if self.report is not None:
            self.report(self.done, self.total)

    def _start_more(self) -> None:
        """Start connects until ``limit`` are in flight; those decided at once (refused, open) finish here."""
        while not self.exhausted and len(self.pending) < self.limit:
            target = next(self.targets, None)
            if target is None:
                self.exhausted = True
                return
            addr, port = target
            sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            t0 = time.perf_counter()
            code = sock.connect_ex((addr, port))
            if code in (errno.EINPROGRESS, errno.EAGAIN):
                self.sel.register(sock, selectors.EVENT_WRITE)
                self.pending[sock] = (target, t0)
                continue
            if code == 0:
                self.found[target] = time.perf_counter() - t0
            sock.close()  # refused, unreachable or already open: decided
            self._finish()

    def _collect_ready(self) -> None:
        """Wait (at most until the oldest probe expires) for connects that completed, open or refused."""
        oldest = min(t0 for _, t0 in self.pending.values())
        for key, _ in self.sel.select(max(0.0, oldest + self.timeout - time.perf_counter())):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            target, t0 = self.pending.pop(sock)
            self.sel.unregister(sock)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                self.found[target] = time.perf_counter() - t0
            sock.close()
            self._finish()

    def _expire(self) -> None:
        """Give up on probes older than ``timeout``: a filtered port, or no host there."""
        now = time.perf_counter()
        for sock, (_target, t0) in list(self.pending.items()):
            if now - t0 >= self.timeout:
                self.sel.unregister(sock)
                sock.close()
                del self.pending[sock]
                self._finish()


def connect_scan(
    targets: list[Target], timeout: float, limit: int, report: Progress | None = None
) -> dict[Target, float]:
    """``{(addr, port): seconds to connect}`` for the targets that accepted a TCP connection."""
    return _ConnectScan(targets, timeout, limit, report).run()
