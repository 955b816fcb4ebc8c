"""AsyncProvider: one OpenAI-compatible endpoint, called with ``await``.

    >>> async with nx.AsyncProvider(name="lmstudio", base_url="http://127.0.0.1:1234/v1") as p:   # doctest: +SKIP
    ...     r = await p.chat([{"role": "user", "content": "Say hi"}])
    ...     async for delta in await p.stream([{"role": "user", "content": "Count to 5"}]):
    ...         print(delta, end="")

It shares every decision with :class:`~nxs_lab.Provider` (their common base) and reads the
server's models through the same :class:`~nxs_lab.client.catalog.ModelCatalog`, run on a worker
thread so the event loop never blocks; ``provider.to_async()`` gives one sharing the catalogue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx2

from ..errors import NxsLabError
from ..models import ModelInfo
from ..results import ChatResult, Embeddings, Health
from ._allowance import AsyncAllowanceTransport
from ._base import BaseProvider, Messages, within_total
from ._native import auth_headers, decode_json, native_seconds, native_timeout, url_for
from ._replies import chat_result, completion_result, response_result, vectors
from .streaming import AsyncChatStream

if TYPE_CHECKING:
    from .provider import Provider

__all__ = ["AsyncProvider"]


class AsyncProvider(BaseProvider):
    """One OpenAI-compatible endpoint for asyncio (the arguments are :class:`~nxs_lab.Provider`'s).

    ``transport``: an ``httpx2.AsyncBaseTransport`` to use instead of the network for the SDK's calls.
    """

    _http_class = httpx2.AsyncClient
    _transport_class = AsyncAllowanceTransport
    _sdk_class = "AsyncOpenAI"
    _limits = httpx2.Limits(max_connections=64, max_keepalive_connections=32)

    def __init__(self, *args: Any, transport: httpx2.AsyncBaseTransport | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._transport = transport

    # --------------------------------------------------------------- lifecycle

    async def aclose(self) -> None:
        """Release every connection this provider holds. It can be used again afterwards."""
        if self._http is not None:
            await self._http.aclose()
        self._http = None
        self._client = None
        self._close_catalog()

    async def __aenter__(self) -> AsyncProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def to_sync(self, *, transport: httpx2.BaseTransport | None = None) -> Provider:
        """The same endpoint for plain calls, sharing settings and catalogue (the caller closes it)."""
        from .provider import Provider

        twin = Provider(catalog=self.catalog, transport=transport, cache=self.cache)
        twin.cache_always = self.cache_always
        return twin

    async def _create(self, resource: Any, kw: dict[str, Any]) -> Any:
        """``resource.create(**kw)`` under the call's allowance, as :meth:`Provider._create`: ``timeouts.total``
        (held at every connect, write and read, less any wait for the pool) and ``max_response_bytes``."""
        with self._limited(self.timeouts.total):
            return await resource.create(**kw)

    # ------------------------------------------------------------ native HTTP

    async def get_json(self, path: str) -> Any:
        """GET ``path`` (relative to the server root if it starts with ``/``, else to ``base_url``)."""
        return await self._request("GET", path)

    async def post_json(self, path: str, payload: Any) -> Any:
        return await self._request("POST", path, payload)

    async def _request(self, method: str, path: str, payload: Any = None) -> Any:
        seconds = native_seconds(self.config)
        try:
            async with asyncio.timeout(seconds):  # the time; the allowance below holds the byte cap
                with self._translated(), self._limited(None):
                    resp = await self.http.request(
                        method, url_for(self.base_url, path), json=payload, headers=auth_headers(self.config)
                    )
        except TimeoutError:
            raise native_timeout(self.config, path, seconds) from None
        return decode_json(resp, path, self.config)

    # ------------------------------------------------------------------ models

    @within_total
    async def list_models(self, *, refresh: bool = False) -> list[ModelInfo]:
        """The models the server lists (through the same adapter as the sync provider). Cached."""
        return await asyncio.to_thread(self.catalog.list_models, refresh=refresh)

    @within_total
    async def detect_model(self) -> str:
        return await asyncio.to_thread(self.catalog.detect_model)

    async def detect_embedding_model(self) -> str:
        return await asyncio.to_thread(self.catalog.detect_embedding_model)

    async def resolve_model(self, model: str | None = None) -> str:
        """The model a call will use; no thread and no request when it is given or configured."""
        known = self.catalog.known(model)
        return known if known is not None else await asyncio.to_thread(self.catalog.resolve, model)

    async def supports_tools(self, model: str | None = None) -> bool | None:
        """See :meth:`Provider.supports_tools`."""
        return await asyncio.to_thread(self.catalog.tool_calls, model)

    async def context_window_info(self, model: str | None = None) -> tuple[int | None, str]:
        return await asyncio.to_thread(self.catalog.context_window_info, model)

    async def count_tokens(self, text: str, model: str | None = None) -> int | None:
        return await asyncio.to_thread(self.catalog.count_tokens, text, model)

    # ------------------------------------------------------------------- calls

    async def _aollama_num_ctx(self) -> int | None:
        """``_ollama_num_ctx`` off the event loop, and only when a window is configured: every other call skips
        the thread hop (200 concurrent calls queueing on the default executor delayed their own connects)."""
        return await asyncio.to_thread(self._ollama_num_ctx) if self.config.num_ctx is not None else None

    @within_total
    async def chat(self, messages: Messages, *, model: str | None = None, **params: Any) -> ChatResult:
        """One chat completion. ``params`` go to the server (``max_tokens``, ``temperature``, ``tools``, …)."""
        m = await self.resolve_model(model)
        num_ctx = await self._aollama_num_ctx()
        if num_ctx is not None:
            return await asyncio.to_thread(self._ollama_chat, messages, m, params, num_ctx)
        kw = self._chat_kwargs(messages, m, params)
        key = await asyncio.to_thread(self._cache_key, kw, m)
        hit = await asyncio.to_thread(self._from_cache, key)
        if hit is not None:
            return hit
        t0 = time.perf_counter()
        with self._translated():
            resp = await self._create(self.client.chat.completions, kw)
        result = chat_result(resp, m, t0, self.name, self.base_url)
        checked = self._checked_for_truncation(result, messages, getattr(resp, "system_fingerprint", None))
        return await asyncio.to_thread(self._to_cache, key, checked)

    @within_total
    async def stream(self, messages: Messages, *, model: str | None = None, **params: Any) -> AsyncChatStream:
        """Stream a chat: ``async for`` over the returned stream for text deltas, then read ``.result``."""
        m = await self.resolve_model(model)
        num_ctx = await self._aollama_num_ctx()
        if self.catalog.thinking_unknown(m):  # once per model, where the server can say (no thread otherwise)
            await asyncio.to_thread(self.catalog.check_thinking, m)
        return self._new_stream(AsyncChatStream, self._stream_kwargs(messages, m, params), num_ctx)

    @within_total
    async def complete(self, prompt: str, *, model: str | None = None, **params: Any) -> ChatResult:
        """A legacy text completion (``/v1/completions``)."""
        m = await self.resolve_model(model)
        t0 = time.perf_counter()
        with self._translated():
            resp = await self._create(
                self.client.completions, dict(self._with_extras(self._params(params)), model=m, prompt=prompt)
            )
        return self._with_provenance(completion_result(resp, m, t0, self.name, self.base_url), m)

    @within_total
    async def respond(self, input: Any, *, model: str | None = None, **params: Any) -> ChatResult:
        """A Responses API call (``/v1/responses``)."""
        m = await self.resolve_model(model)
        kw = self._respond_kwargs(input, m, params)
        t0 = time.perf_counter()
        with self._translated():
            resp = await self._create(self.client.responses, kw)
        return self._with_provenance(
            response_result(resp, m, t0, self.name, self.base_url, kw.get("max_output_tokens")), m
        )

    @within_total
    async def embed(self, texts: str | Sequence[str], *, model: str | None = None, pool: bool = True) -> Embeddings:
        """One vector per text (a single string gives a list with one vector). Per-token vectors from a server
        run without pooling are mean-pooled and flagged (``.pooled``); ``pool=False`` makes them an error."""
        items = self._embed_items(texts)
        if not items:
            return Embeddings()
        if model is not None:
            m = self.catalog.check_allowed(model)
        else:
            m = await asyncio.to_thread(self.catalog.embedding_model)
        with self._translated():
            resp = await self._create(self.client.embeddings, dict(model=m, input=items, encoding_format="float"))
        return vectors(resp, len(items), pool, self.name, self.base_url)

    async def health(self) -> Health:
        """Whether the server lists its models, and how fast. Never raises: any failure is reported in it."""
        t0 = time.perf_counter()
        try:
            n = len(await self.list_models(refresh=True))
        except NxsLabError as exc:
            return self._health(t0, None, exc)
        return self._health(t0, n, None)
