"""A circuit breaker per provider, with an injectable clock.

CLOSED ──(threshold consecutive failures, or one refused connection)──▶ OPEN
OPEN ──(cooldown passes)──▶ HALF_OPEN: one probe call is let through
HALF_OPEN ──(probe succeeds)──▶ CLOSED;  ──(probe fails)──▶ OPEN, cooldown doubled (up to max_cooldown)
HALF_OPEN ──(probe ends without a verdict: interrupted, cancelled, abandoned)──▶ HALF_OPEN, next probe allowed

Every probe settles: the fallback chain records success or failure, or releases it on any other exit
(Ctrl-C, task cancellation, a stream its reader stopped). A probe that is never settled at all (a
generator nobody closes) expires after ``probe_timeout`` seconds, so a provider can never be skipped forever.

While OPEN, calls skip the provider at once: a dead primary costs nothing after
the first failure. Safe to share across threads and asyncio tasks: no state
change awaits anything, and a lock guards each.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._html import kv_table

if TYPE_CHECKING:
    from ..config import BreakerSettings

log = logging.getLogger("nxs_lab.breaker")

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class _Stats:
    failures: int = 0  # consecutive
    opened_at: float = 0.0
    cooldown: float = 0.0
    probe_in_flight: bool = False
    probe_started: float = 0.0
    trips: int = 0


class CircuitBreaker:
    """One provider's breaker.

    >>> clock = [0.0]
    >>> b = CircuitBreaker(threshold=2, cooldown=5, clock=lambda: clock[0])
    >>> b.record_failure(); b.record_failure(); b.state
    <BreakerState.OPEN: 'open'>
    >>> b.allow()
    False
    >>> clock[0] = 5.0; b.allow(), b.state
    (True, <BreakerState.HALF_OPEN: 'half-open'>)
    """

    def __init__(
        self,
        threshold: int = 3,
        cooldown: float = 5.0,
        max_cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        probe_timeout: float = 300.0,
        name: str = "",
    ) -> None:
        # `not (x > 0)` also refuses NaN, which compares false with everything
        if threshold < 1 or not (cooldown > 0) or not (max_cooldown >= cooldown) or not (probe_timeout > 0):
            raise ValueError(
                "CircuitBreaker needs threshold >= 1, cooldown > 0, max_cooldown >= cooldown and probe_timeout > 0"
                f" (got threshold={threshold}, cooldown={cooldown}, max_cooldown={max_cooldown},"
                f" probe_timeout={probe_timeout})"
            )
        self.probe_timeout = probe_timeout
        self.name = name  # the provider it guards, for log lines
        self.threshold = threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.clock = clock
        self._state = BreakerState.CLOSED
        self._s = _Stats(cooldown=cooldown)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: BreakerSettings, name: str = "") -> CircuitBreaker:
        """A breaker as the ``[breaker]`` table of the settings describes it."""
        return cls(settings.threshold, settings.cooldown, settings.max_cooldown, name=name)

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._tick()
            return self._state

    def _tick(self) -> None:
        now = self.clock()
        if self._state is BreakerState.OPEN and now - self._s.opened_at >= self._s.cooldown:
            self._state = BreakerState.HALF_OPEN
            self._s.probe_in_flight = False
        elif self._s.probe_in_flight and now - self._s.probe_started >= self.probe_timeout:
            self._s.probe_in_flight = False  # a probe nobody settled: let the next call probe instead

    def allow(self) -> bool:
        """May a call go to this provider now? In HALF_OPEN only one probe at a time is allowed."""
        with self._lock:
            self._tick()
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.HALF_OPEN and not self._s.probe_in_flight:
                self._s.probe_in_flight = True
                self._s.probe_started = self.clock()
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            if self._state is not BreakerState.CLOSED:
                log.info("breaker %s closed: a probe succeeded", self.name or "(unnamed)")
            self._state = BreakerState.CLOSED
            self._s.failures = 0
            self._s.cooldown = self.base_cooldown
            self._s.probe_in_flight = False

    def record_failure(self, *, open_now: bool = False) -> None:
        """Count a failure; ``open_now`` opens at once (a refused single endpoint)."""
        with self._lock:
            self._tick()
            self._s.failures += 1
            if self._state is BreakerState.HALF_OPEN:
                self._s.cooldown = min(self._s.cooldown * 2, self.max_cooldown)
                self._open()
            elif self._state is BreakerState.CLOSED and (open_now or self._s.failures >= self.threshold):
                self._open()

    def release(self) -> None:
        """A call let through ended without a verdict on health: our own bad request, or the caller stopped it
        (Ctrl-C, cancellation, a stream no longer read). The next call may probe."""
        with self._lock:
            self._s.probe_in_flight = False

    def _open(self) -> None:
        log.info(
            "breaker %s opened after %d failure(s): no calls for %.1f s",
            self.name or "(unnamed)", self._s.failures, self._s.cooldown,
        )  # fmt: skip
        self._state = BreakerState.OPEN
        self._s.opened_at = self.clock()
        self._s.probe_in_flight = False
        self._s.trips += 1

    def retry_in(self) -> float:
        """Seconds until an OPEN breaker lets a probe through (0 when not open)."""
        with self._lock:
            self._tick()
            if self._state is not BreakerState.OPEN:
                return 0.0
            return max(0.0, self._s.opened_at + self._s.cooldown - self.clock())

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            self._tick()
            return {
                "state": self._state.value,
                "consecutive_failures": self._s.failures,
                "trips": self._s.trips,
                "cooldown_s": self._s.cooldown,
                "retry_in_s": round(max(0.0, self._s.opened_at + self._s.cooldown - self.clock()), 3)
                if self._state is BreakerState.OPEN
                else 0.0,
            }

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.state.value}, failures={self._s.failures})"

    def _repr_html_(self) -> str:
        return kv_table("circuit breaker", self.snapshot())
