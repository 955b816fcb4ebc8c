"""Keep answering when providers fail: the retry table, circuit breakers, rate limits, the fallback chain."""

from .breaker import BreakerState, CircuitBreaker
from .chainstream import AsyncChainStream, ChainStream
from .fallback import FallbackChain
from .ratelimit import TokenBucket
from .requestlog import RequestLog
from .retry import Action, Decision, RetryPolicy, decide

__all__ = [
    "Action",
    "AsyncChainStream",
    "BreakerState",
    "ChainStream",
    "CircuitBreaker",
    "Decision",
    "FallbackChain",
    "RequestLog",
    "RetryPolicy",
    "TokenBucket",
    "decide",
]
