"""Provider: one OpenAI-compatible endpoint, local or cloud, called synchronously.

Switching from a cloud model to a local one is a change of ``base_url``::

    >>> import nxs_lab as nx
    >>> p = nx.Provider(name="lmstudio", base_url="http://127.0.0.1:1234/v1")   # doctest: +SKIP
    >>> p.chat([{"role": "user", "content": "Say hi"}]).text                     # doctest: +SKIP

The openai SDK client is built with ``max_retries=0``: retry and fallback
policy belongs to the kit (see ``FallbackChain``), not to the SDK, or retries
multiply. The SDK is imported on first use, not at ``import nxs_lab``.
:class:`~nxs_lab.AsyncProvider` is the same endpoint for ``await``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx2

from ..errors import NxsLabError
from ..models import ModelInfo
from ..results import ChatResult, Embeddings, Health
from ._allowance import AllowanceTransport
from ._base import BaseProvider, Messages, within_total
from ._replies import chat_result, completion_result, lmstudio_completion, response_result, vectors
from .streaming import ChatStream

if TYPE_CHECKING:
    from .async_provider import AsyncProvider

__all__ = ["Provider"]


class Provider(BaseProvider):
    """One OpenAI-compatible endpoint (see :class:`~nxs_lab.client._base.BaseProvider` for the arguments).

    ``transport``: an httpx2 transport to use instead of the network (e.g. ``httpx2.MockTransport``
    when only the transport is under test); it carries the SDK's calls and the native ones.
    """

    _http_class = httpx2.Client
    _transport_class = AllowanceTransport
    _sdk_class = "OpenAI"

    def __init__(self, *args: Any, transport: httpx2.BaseTransport | None = None, **kw: Any) -> None:
        kw.setdefault("native_transport", transport)
        super().__init__(*args, **kw)
        self._transport = transport

    # --------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Release every connection this provider holds. It can be used again afterwards."""
        if self._http is not None:
            self._http.close()
        self._http = None
        self._client = None
        self._close_catalog()

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def to_async(self, *, transport: httpx2.AsyncBaseTransport | None = None) -> AsyncProvider:
        """The same endpoint for ``await``, sharing this provider's settings and catalogue (the caller closes it)."""
        from .async_provider import AsyncProvider

        twin = AsyncProvider(catalog=self.catalog, transport=transport, cache=self.cache)
        twin.cache_always = self.cache_always
        return twin

    def _create(self, resource: Any, kw: dict[str, Any]) -> Any:
        """``resource.create(**kw)`` under the call's allowance: ``timeouts.total`` from before the request is sent
        (headers that drip count too) and ``max_response_bytes``."""
        with self._limited(self.timeouts.total):
            return resource.create(**kw)

    # ------------------------------------------------------------ native HTTP

    def get_json(self, path: str) -> Any:
        """GET ``path`` (relative to the server root if it starts with ``/``, else to ``base_url``)."""
        return self.catalog.http.get_json(path)

    def post_json(self, path: str, payload: Any) -> Any:
        return self.catalog.http.post_json(path, payload)

    # ------------------------------------------------------------------ models

    @within_total
    def list_models(self, *, refresh: bool = False) -> list[ModelInfo]:
        """The models the server lists, normalized from its native endpoints. Cached until ``refresh=True``."""
        return self.catalog.list_models(refresh=refresh)

    @within_total
    def detect_model(self) -> str:
        """The first loaded chat (or vision-language) model the server lists (embedding models are skipped)."""
        return self.catalog.detect_model()

    def detect_embedding_model(self) -> str:
        return self.catalog.detect_embedding_model()

    def resolve_model(self, model: str | None = None) -> str:
        """The model a call will use: the argument, the configured one, or the detected one."""
        return self.catalog.resolve(model)

    def context_window_info(self, model: str | None = None) -> tuple[int | None, str]:
        """The window for ``model`` and where the number came from: ``config``, ``server:<kind>`` or ``unknown``."""
        return self.catalog.context_window_info(model)

    def supports_tools(self, model: str | None = None) -> bool | None:
        """Whether the server says the model can call tools (llama.cpp's template caps, Ollama's capabilities, …):
        ``None`` when it does not say, so a caller tries and sees."""
        return self.catalog.tool_calls(model)

    def count_tokens(self, text: str, model: str | None = None) -> int | None:
        """Tokens in ``text`` by the server's own tokenizer, or ``None`` when it has none."""
        return self.catalog.count_tokens(text, model)

    # ------------------------------------------------------------------- calls

    @within_total
    def chat(self, messages: Messages, *, model: str | None = None, **params: Any) -> ChatResult:
        """One chat completion. ``params`` go to the server (``max_tokens``, ``temperature``, ``tools``, …)."""
        m = self.resolve_model(model)
        num_ctx = self._ollama_num_ctx()
        if num_ctx is not None:
            return self._ollama_chat(messages, m, params, num_ctx)
        kw = self._chat_kwargs(messages, m, params)
        key = self._cache_key(kw, m)
        hit = self._from_cache(key)
        if hit is not None:
            return hit
        t0 = time.perf_counter()
        with self._translated():
            resp = self._create(self.client.chat.completions, kw)
        result = chat_result(resp, m, t0, self.name, self.base_url)
        return self._to_cache(
            key, self._checked_for_truncation(result, messages, getattr(resp, "system_fingerprint", None))
        )

    @within_total
    def chat_with_stats(self, messages: Messages, *, model: str | None = None, **params: Any) -> ChatResult:
        """:meth:`chat`, through the endpoint where the server reports its own speed: LM Studio's native
        ``/api/v0/chat/completions``, whose ``stats`` (``tokens_per_second``, ``time_to_first_token``) its
        OpenAI-compatible endpoint leaves out (``result.server_tokens_per_s``; ``ttft_s`` is the server's). Other
        servers' replies already carry theirs where they have any (llama.cpp's ``timings``): plain :meth:`chat`."""
        if self.server_kind != "lmstudio":
            return self.chat(messages, model=model, **params)
        m = self.resolve_model(model)
        kw = self._chat_kwargs(messages, m, params)
        t0 = time.perf_counter()
        with self._translated():
            reply = self.catalog.http.post_json("/api/v0/chat/completions", kw)
        result = chat_result(lmstudio_completion(reply, self.name, self.base_url), m, t0, self.name, self.base_url)
        result = self._with_provenance(result, m)
        ttft = (reply.get("stats") or {}).get("time_to_first_token") if isinstance(reply, dict) else None
        return dataclasses.replace(result, ttft_s=float(ttft)) if isinstance(ttft, (int, float)) else result

    @within_total
    def stream(self, messages: Messages, *, model: str | None = None, **params: Any) -> ChatStream:
        """Stream a chat: iterate the returned :class:`ChatStream` for text deltas, then read ``.result``."""
        m = self.resolve_model(model)
        self.catalog.check_thinking(m)
        return self._new_stream(ChatStream, self._stream_kwargs(messages, m, params), self._ollama_num_ctx())

    @within_total
    def complete(self, prompt: str, *, model: str | None = None, **params: Any) -> ChatResult:
        """A legacy text completion (``/v1/completions``)."""
        m = self.resolve_model(model)
        t0 = time.perf_counter()
        with self._translated():
            resp = self._create(
                self.client.completions, dict(self._with_extras(self._params(params)), model=m, prompt=prompt)
            )
        return self._with_provenance(completion_result(resp, m, t0, self.name, self.base_url), m)

    @within_total
    def respond(self, input: Any, *, model: str | None = None, **params: Any) -> ChatResult:
        """A Responses API call (``/v1/responses``: OpenAI, LM Studio). Raises
        :class:`~nxs_lab.errors.UnsupportedEndpoint` where the server has none."""
        m = self.resolve_model(model)
        kw = self._respond_kwargs(input, m, params)
        t0 = time.perf_counter()
        with self._translated():
            resp = self._create(self.client.responses, kw)
        return self._with_provenance(
            response_result(resp, m, t0, self.name, self.base_url, kw.get("max_output_tokens")), m
        )

    @within_total
    def embed(self, texts: str | Sequence[str], *, model: str | None = None, pool: bool = True) -> Embeddings:
        """One vector per text (a single string gives a list with one vector). Per-token vectors from a server
        run without pooling are mean-pooled and flagged (``.pooled``); ``pool=False`` makes them an error."""
        items = self._embed_items(texts)
        if not items:
            return Embeddings()
        m = self.catalog.check_allowed(model) if model is not None else self.catalog.embedding_model()
        with self._translated():
            resp = self._create(self.client.embeddings, dict(model=m, input=items, encoding_format="float"))
        return vectors(resp, len(items), pool, self.name, self.base_url)

    def health(self) -> Health:
        """Whether the server lists its models, and how fast. Never raises: any failure is reported in it."""
        t0 = time.perf_counter()
        try:
            n = len(self.list_models(refresh=True))
        except NxsLabError as exc:
            return self._health(t0, None, exc)
        return self._health(t0, n, None)
