"""What the benchmarks share: the median time of a call, in milliseconds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def med_ms(fn: Callable[[], object], n: int) -> float:
    """The median of ``n`` timed runs of ``fn``, in milliseconds."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000
