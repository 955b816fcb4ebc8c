"""A token bucket per provider: at most ``rate`` requests (or model tokens) a second, bursts up to ``burst``.
:meth:`TokenBucket.per_minute` is the settings' ``rpm`` and ``tpm``, as LiteLLM names them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """Pure bookkeeping with an injectable clock; the caller decides whether to wait or move on.

    >>> t = [0.0]
    >>> b = TokenBucket(rate=2, burst=1, clock=lambda: t[0])
    >>> b.try_acquire(), b.try_acquire(), b.wait_time()
    (True, False, 0.5)
    >>> b.reserve(max_wait=1.0), b.reserve(max_wait=1.0), b.reserve(max_wait=1.0)
    (0.5, 1.0, None)
    """

    def __init__(self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        if not (0 < rate < float("inf")) or burst < 1:  # refuses NaN and infinity too
            raise ValueError(
                f"TokenBucket needs 0 < rate < inf requests/s and burst >= 1 (got rate={rate}, burst={burst})"
            )
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_acquire(self) -> bool:
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False

    @classmethod
    def per_minute(cls, n: int, clock: Callable[[], float] = time.monotonic) -> TokenBucket:
        """``n`` a minute (``rpm`` requests, ``tpm`` model tokens), a whole minute's worth at once at most."""
        return cls(rate=n / 60, burst=max(1, int(n)), clock=clock)

    def reserve(self, max_wait: float, n: float = 1.0) -> float | None:
        """Take ``n`` tokens now or, if they free within ``max_wait`` seconds, book them and return the wait.

        The booking is made before the caller sleeps, so concurrent callers queue one behind the other
        instead of all waking at the same moment and all going out. ``None``: not within ``max_wait``
        (nothing is booked). More than ``burst`` is booked as ``burst``: it could never be free at once.
        """
        n = min(float(n), float(self.burst))
        with self._lock:
            self._refill()
            wait = 0.0 if self._tokens >= n else (n - self._tokens) / self.rate
            if wait > max_wait:
                return None
            self._tokens -= n  # may go negative: the debt is the queue of booked callers
            return wait

    def settle(self, delta: float) -> None:
        """Correct a booking once the real figure is known: ``delta`` more tokens taken (negative: given back)."""
        with self._lock:
            self._refill()
            self._tokens = min(float(self.burst), self._tokens - delta)

    def wait_time(self) -> float:
        """Seconds until a token is free (0 when one is)."""
        with self._lock:
            self._refill()
            return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
