"""Deadlines for blocking reads: one daemon thread fires callbacks when a deadline passes.

A sync stream blocked in ``recv()`` cannot be interrupted by a timer alone; the
callback shuts the socket down, which wakes the read at once. One thread serves
every stream in the process, however many are open.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Deadline", "shutdown_callback", "socket_of", "watchdog"]


class Deadline:
    """A re-armable deadline. ``fired`` tells afterwards whether the callback ran."""

    __slots__ = ("_dog", "_version", "callback", "cancelled", "fired", "when")

    def __init__(self, dog: _Watchdog, callback: Callable[[], None]) -> None:
        self._dog = dog
        self._version = 0
        self.callback = callback
        self.fired = False
        self.cancelled = False
        self.when = float("inf")

    def set(self, when: float) -> None:
        """Fire at monotonic time ``when`` (replacing any earlier setting)."""
        self._dog._schedule(self, when)

    def cancel(self) -> None:
        self.cancelled = True


class _Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, Deadline]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def deadline(self, callback: Callable[[], None]) -> Deadline:
        return Deadline(self, callback)

    def _schedule(self, d: Deadline, when: float) -> None:
        with self._cond:
            d._version += 1
            d.when = when
            earliest = self._heap[0][0] if self._heap else float("inf")
            heapq.heappush(self._heap, (when, next(self._seq), d._version, d))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="nxs-lab-watchdog", daemon=True)
                self._thread.start()
            # Wake the thread only for a deadline earlier than the one it sleeps towards. Re-arming a
            # stream's deadline on every chunk moves it later: the thread finds the stale entry when it
            # wakes anyway, and the stream never pays a thread switch per chunk.
            if when < earliest:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    # Drop entries that were re-armed or cancelled since they were pushed.
                    while self._heap and (self._heap[0][3].cancelled or self._heap[0][2] != self._heap[0][3]._version):
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait(30)
                        continue
                    when, _, _, d = self._heap[0]
                    delay = when - time.monotonic()
                    if delay <= 0:
                        heapq.heappop(self._heap)
                        break
                    self._cond.wait(delay)
            d.fired = True
            d.callback()


watchdog = _Watchdog()


def socket_of(http_response: Any) -> socket.socket | None:
    """The socket under an httpx2 response (``None`` for transports without one, e.g. mocks)."""
    extensions = getattr(http_response, "extensions", None) or {}
    stream = extensions.get("network_stream")
    return stream.get_extra_info("socket") if stream is not None else None


def shutdown_callback(sock: socket.socket | None) -> Callable[[], None]:
    """A deadline callback that wakes a read blocked on ``sock`` by shutting the socket down."""

    def fire() -> None:
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            return  # already closed: the read has ended by itself

    return fire
