"""Measure a chat template's overhead against a server: what five tiny chats really cost in ``usage.prompt_tokens``.

The arithmetic is the counter's (:meth:`~nxs_lab.tokens.TokenCounter.measure_overhead`, pure); this module
only sends the requests, which is why it lives on the floor that knows providers.
"""

from __future__ import annotations

from ..client import AsyncProvider, BaseProvider, Provider
from ..errors import UnsupportedEndpoint
from ..tokens.count import ChatOverhead, Message, TokenCounter

__all__ = ["calibrate"]


def calibrate(counter: TokenCounter, provider: BaseProvider, model: str | None = None) -> ChatOverhead:
    """Measure the chat template's overhead against ``usage.prompt_tokens`` (five 1-token requests) and make
    ``counter`` count with it.

    Blocking: with an :class:`~nxs_lab.AsyncProvider` the requests go through a sync twin that shares its
    catalogue (call this on a worker thread from async code). Raises
    :class:`~nxs_lab.errors.UnsupportedEndpoint` when the server reports no usable ``prompt_tokens``."""
    if isinstance(provider, AsyncProvider):
        sync = provider.to_sync()
    elif isinstance(provider, Provider):
        sync = provider
    else:
        raise TypeError(f"calibrate needs a Provider or an AsyncProvider, got {type(provider).__name__}")

    def sent(msgs: list[Message]) -> int:
        r = sync.chat(msgs, model=model, max_tokens=1, temperature=0)
        if r.usage.prompt_tokens is None:
            raise UnsupportedEndpoint(
                "the server reports no usage.prompt_tokens: cannot calibrate against it",
                provider=provider.name,
                base_url=provider.base_url,
            )
        return r.usage.prompt_tokens

    try:
        overhead = counter.measure_overhead(sent)
    finally:
        if sync is not provider:
            sync.close()
    if overhead is None:
        raise UnsupportedEndpoint(
            "the server's usage.prompt_tokens do not grow with the prompt: cannot calibrate against it",
            provider=provider.name,
            base_url=provider.base_url,
        )
    return counter.use_overhead(overhead)
