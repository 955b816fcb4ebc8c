"""Provider: one OpenAI-compatible endpoint, local or cloud, behind one interface.

Switching from a cloud model to a local one is a change of ``base_url``::

    >>> import nxs_lab as nx
    >>> p = nx.Provider(name="lmstudio", base_url="http://127.0.0.1:1234/v1")   # doctest: +SKIP
    >>> p.chat([{"role": "user", "content": "Say hi"}]).text                     # doctest: +SKIP

The openai SDK client is built with ``max_retries=0``: retry and fallback
policy belongs to the kit (see ``FallbackChain``), not to the SDK, or retries
multiply. The SDK is imported on first use, not at ``import nxs_lab``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
from pydantic import SecretStr

from ._boundary import status_error, translated
from .config import ProviderConfig, Timeouts, default_timeouts, host_scope
from .errors import InvalidResponse, ModelNotAllowed, ModelNotFound, ProviderError, ResponseTimeout
from .models import ModelInfo, ModelKind, models_table
from .replies import chat_result, completion_result, response_result, vectors
from .results import ChatResult, Health
from .servers import GENERIC, ServerAdapter, identify, models_from_openai_list
from .streaming import AsyncChatStream, ChatStream, StreamAccumulator
from .watchdog import shutdown_callback, socket_of, watchdog

__all__ = ["Provider"]

log = logging.getLogger("nxs_lab.provider")

Messages = Sequence[Mapping[str, Any]]
# Local servers ignore the key, but the SDK insists on one. Not secret, not a real key.
_NO_KEY = "nxs-lab-no-key"


def redact_url(url: str) -> str:
    """Drop any ``user:password@`` from a URL before it is shown."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, "***@" + host, parts.path, parts.query, parts.fragment))


def _timeout(t: Timeouts) -> httpx2.Timeout:
    # Waiting for a slot in our own pool is queueing, not a sign the server is down: give it first_byte.
    return httpx2.Timeout(connect=t.connect, read=t.first_byte, write=t.first_byte, pool=t.first_byte)


class Provider:
    """One OpenAI-compatible endpoint.

    Args:
        name: what results and errors call this provider.
        base_url: the API root, usually ending in ``/v1``.
        api_key: a key (kept as ``SecretStr``; never shown), or ``None`` for local servers.
        model: the model to use; ``None`` detects the first chat model the server lists.
        timeouts: connect / first-byte / idle seconds; default by distance (loopback, LAN, internet).
        allowed_models: when given, any other model is refused before a request is sent.
        context_window, max_tokens, reserve: the budget this provider's requests must fit.
        transport, async_transport: an httpx2 transport to use instead of the network
            (e.g. ``httpx2.MockTransport`` when only the transport is under test).
    """

    def __init__(
        self,
        name: str = "default",
        base_url: str = "http://127.0.0.1:1234/v1",
        api_key: str | SecretStr | None = None,
        model: str | None = None,
        *,
        timeouts: Timeouts | None = None,
        allowed_models: Iterable[str] | None = None,
        context_window: int | None = None,
        max_tokens: int | None = None,
        reserve: int = 0,
        transport: httpx2.BaseTransport | None = None,
        async_transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        # Validate like a config entry, so code and files fail the same way.
        ProviderConfig(name=name, base_url=base_url)
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key if isinstance(api_key, SecretStr) or api_key is None else SecretStr(api_key)
        self.model = model
        self.timeouts = timeouts or default_timeouts(self.base_url)
        self.allowed_models: tuple[str, ...] | None = tuple(allowed_models) if allowed_models is not None else None
        self.context_window = context_window
        self.max_tokens = max_tokens
        self.reserve = reserve
        self._transport = transport
        self._async_transport = async_transport
        self._http: httpx2.Client | None = None
        self._ahttp: httpx2.AsyncClient | None = None
        self._client: Any = None
        self._aclient: Any = None
        self._models_cache: list[ModelInfo] | None = None
        self._server: ServerAdapter | None = None
        self.server_version: str | None = None

    @classmethod
    def from_config(cls, cfg: ProviderConfig, **overrides: Any) -> Provider:
        """Build from a :class:`ProviderConfig` (resolving ``api_key_env``)."""
        kw: dict[str, Any] = dict(
            name=cfg.name,
            base_url=cfg.base_url,
            api_key=cfg.resolved_api_key(),
            model=cfg.model,
            timeouts=cfg.resolved_timeouts(),
            allowed_models=cfg.allowed_models,
            context_window=cfg.context_window,
            max_tokens=cfg.max_tokens,
            reserve=cfg.reserve,
        )
        kw.update(overrides)
        return cls(**kw)

    # ----------------------------------------------------------------- plumbing

    def __repr__(self) -> str:
        key = "SecretStr('**********')" if self._api_key is not None else "None"
        return (
            f"Provider(name={self.name!r}, base_url={redact_url(self.base_url)!r}, "
            f"model={self.model!r}, api_key={key})"
        )

    def _repr_html_(self) -> str:
        from ._html import kv_table

        return kv_table(
            f"provider {self.name}",
            {
                "base_url": redact_url(self.base_url),
                "model": self.model or "(auto-detect)",
                "api key": "set (hidden)" if self._api_key is not None else "none",
                "timeouts": f"connect {self.timeouts.connect}s, first byte {self.timeouts.first_byte}s, idle {self.timeouts.idle}s",
                "allowed models": ", ".join(self.allowed_models) if self.allowed_models is not None else "any",
            },
        )

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def _headers(self) -> dict[str, str]:
        if self._api_key is None:
            return {}
        return {"Authorization": f"Bearer {self._api_key.get_secret_value()}"}

    @property
    def http(self) -> httpx2.Client:
        """The provider's HTTP client (shared by the SDK and the kit's own native calls)."""
        if self._http is None:
            self._http = httpx2.Client(
                timeout=_timeout(self.timeouts),
                transport=self._transport,
                limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return self._http

    @property
    def ahttp(self) -> httpx2.AsyncClient:
        if self._ahttp is None:
            self._ahttp = httpx2.AsyncClient(
                timeout=_timeout(self.timeouts),
                transport=self._async_transport,
                limits=httpx2.Limits(max_connections=64, max_keepalive_connections=32),
            )
        return self._ahttp

    @property
    def client(self) -> Any:
        """The underlying ``openai.OpenAI`` client (``max_retries=0``)."""
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=self._api_key.get_secret_value() if self._api_key is not None else _NO_KEY,
                max_retries=0,
                timeout=_timeout(self.timeouts),
                http_client=self.http,
            )
        return self._client

    @property
    def aclient(self) -> Any:
        """The underlying ``openai.AsyncOpenAI`` client (``max_retries=0``)."""
        if self._aclient is None:
            import openai

            self._aclient = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key.get_secret_value() if self._api_key is not None else _NO_KEY,
                max_retries=0,
                timeout=_timeout(self.timeouts),
                http_client=self.ahttp,
            )
        return self._aclient

    def close(self) -> None:
        """Release connections. The provider can be used again afterwards."""
        if self._http is not None:
            self._http.close()
        self._http = None
        self._client = None

    async def aclose(self) -> None:
        if self._ahttp is not None:
            await self._ahttp.aclose()
        self._ahttp = None
        self._aclient = None

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _translated(self) -> Any:
        return translated(self.name, self.base_url)

    def _total_timeout(self) -> ResponseTimeout:
        return ResponseTimeout(
            f"no complete reply within the total timeout ({self.timeouts.total:g} s)",
            provider=self.name,
            base_url=self.base_url,
        )

    def _create(self, resource: Any, kw: dict[str, Any]) -> Any:
        """``resource.create(**kw)``, with ``timeouts.total`` enforced on the whole reply when set."""
        if self.timeouts.total is None:
            return resource.create(**kw)
        deadline = time.monotonic() + self.timeouts.total
        with resource.with_streaming_response.create(**kw) as raw:
            guard = watchdog.deadline(shutdown_callback(socket_of(raw.http_response)))
            guard.set(deadline)
            try:
                return raw.parse()
            except Exception as exc:
                if guard.fired:
                    raise self._total_timeout() from exc
                raise
            finally:
                guard.cancel()

    async def _acreate(self, resource: Any, kw: dict[str, Any]) -> Any:
        if self.timeouts.total is None:
            return await resource.create(**kw)
        try:
            async with asyncio.timeout(self.timeouts.total):
                return await resource.create(**kw)
        except TimeoutError:
            raise self._total_timeout() from None

    # ------------------------------------------------------------ native HTTP

    def get_json(self, path: str) -> Any:
        """GET ``path`` (relative to the server root if it starts with ``/``, else to ``base_url``)."""
        return self._decode(self._send("GET", path), path)

    def post_json(self, path: str, payload: Any) -> Any:
        return self._decode(self._send("POST", path, payload), path)

    async def aget_json(self, path: str) -> Any:
        return self._decode(await self._asend("GET", path), path)

    async def apost_json(self, path: str, payload: Any) -> Any:
        return self._decode(await self._asend("POST", path, payload), path)

    def url_for(self, path: str) -> str:
        if path.startswith("/"):
            parts = urlsplit(self.base_url)
            return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        return f"{self.base_url}/{path}"

    def _send(self, method: str, path: str, payload: Any = None) -> httpx2.Response:
        with self._translated():
            return self.http.request(method, self.url_for(path), json=payload, headers=self._headers())

    async def _asend(self, method: str, path: str, payload: Any = None) -> httpx2.Response:
        with self._translated():
            return await self.ahttp.request(method, self.url_for(path), json=payload, headers=self._headers())

    def _decode(self, resp: httpx2.Response, path: str) -> Any:
        body: Any
        try:
            body = resp.json()
        except ValueError:
            body = resp.text[:500]
            if resp.is_success:
                raise InvalidResponse(
                    f"{path} did not return JSON (content-type {resp.headers.get('content-type', '?')})",
                    provider=self.name,
                    base_url=self.base_url,
                    status=resp.status_code,
                ) from None
        if not resp.is_success:
            raise status_error(
                resp.status_code, body, resp.headers, provider=self.name, base_url=self.base_url, path=path
            )
        return body

    # ------------------------------------------------------------------ models

    @property
    def server(self) -> ServerAdapter:
        """The adapter for this server's kind, found by probing its native endpoints once.

        Public (cloud) hosts are not probed: they are OpenAI-compatible and nothing more is asked of them.
        """
        if self._server is None:
            if host_scope(self.base_url) == "public":
                self._server, self.server_version = GENERIC, None
            else:
                self._server, self.server_version = identify(self)
        return self._server

    @property
    def server_kind(self) -> str:
        return self.server.kind

    def list_models(self, *, refresh: bool = False) -> list[ModelInfo]:
        """The models the server lists, normalized from its native endpoints. Cached until ``refresh=True``."""
        if self._models_cache is None or refresh:
            self._models_cache = self.server.models(self)
        return list(self._models_cache)

    def context_window_info(self, model: str | None = None) -> tuple[int | None, str]:
        """The window for ``model`` and where the number came from: ``config``, ``server:<kind>`` or ``unknown``."""
        if self.context_window is not None:
            return self.context_window, "config"
        m = self.resolve_model(model)
        window = self.server.context_window(self, m)
        if window is not None:
            return window, f"server:{self.server.kind}"
        return None, "unknown"

    def count_tokens(self, text: str, model: str | None = None) -> int | None:
        """Tokens in ``text`` by the server's own tokenizer, or ``None`` when it has none."""
        return self.server.count_tokens(self, self.resolve_model(model), text)

    async def alist_models(self, *, refresh: bool = False) -> list[ModelInfo]:
        if self._models_cache is None or refresh:
            if self._server is not None and self._server is not GENERIC:
                self._models_cache = await asyncio.to_thread(self.server.models, self)
            else:  # the common case needs no probing: read /v1/models without blocking the loop
                self._models_cache = models_from_openai_list(await self.aget_json("models"), provider=self.name)
        return list(self._models_cache)

    def _pick(self, models: list[ModelInfo], kind: ModelKind) -> str:
        allowed = [m for m in models if self.allowed_models is None or m.id in self.allowed_models]
        for m in allowed:
            if m.kind is kind and m.loaded.value != "not-loaded":
                return m.id
        for m in allowed:
            if m.kind is kind:
                return m.id
        raise ModelNotFound(
            f"the server lists no {kind.value} model"
            + (" in the allowlist" if self.allowed_models is not None else "")
            + f" (it lists: {', '.join(m.id for m in models) or 'nothing'})",
            provider=self.name,
            base_url=self.base_url,
        )

    def detect_model(self) -> str:
        """The first loaded chat model the server lists (embedding models are skipped)."""
        return self._pick(self.list_models(), ModelKind.CHAT)

    async def adetect_model(self) -> str:
        return self._pick(await self.alist_models(), ModelKind.CHAT)

    def detect_embedding_model(self) -> str:
        return self._pick(self.list_models(), ModelKind.EMBEDDING)

    def _check_allowed(self, model: str) -> str:
        if self.allowed_models is not None and model not in self.allowed_models:
            raise ModelNotAllowed(self.name, model, self.allowed_models)
        return model

    def resolve_model(self, model: str | None = None) -> str:
        """The model a call will use: the argument, the configured one, or the detected one."""
        if model is None and self.model is None:
            self.model = self.detect_model()
        return self._check_allowed(model or self.model)  # type: ignore[arg-type]

    async def aresolve_model(self, model: str | None = None) -> str:
        if model is None and self.model is None:
            self.model = await self.adetect_model()
        return self._check_allowed(model or self.model)  # type: ignore[arg-type]

    # -------------------------------------------------------------------- chat

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The call's parameters without ``None`` values, with the provider's ``max_tokens`` as the default."""
        kw = {k: v for k, v in params.items() if v is not None}
        if "max_tokens" not in kw and self.max_tokens is not None:
            kw["max_tokens"] = self.max_tokens
        return kw

    def _chat_kwargs(self, messages: Messages, model: str, params: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)) or not messages:
            raise TypeError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
        for i, m in enumerate(messages):
            if not isinstance(m, Mapping) or "role" not in m:
                raise TypeError(f"messages[{i}] must be a dict with a 'role' key, got {m!r:.80}")
        kw = self._params(params)
        kw["model"] = model
        kw["messages"] = list(messages)
        return kw

    def chat(self, messages: Messages, *, model: str | None = None, **params: Any) -> ChatResult:
        """One chat completion. ``params`` go to the server (``max_tokens``, ``temperature``, ``tools``, …)."""
        m = self.resolve_model(model)
        kw = self._chat_kwargs(messages, m, params)
        t0 = time.perf_counter()
        with self._translated():
            resp = self._create(self.client.chat.completions, kw)
        return chat_result(resp, m, t0, self.name, self.base_url)

    async def achat(self, messages: Messages, *, model: str | None = None, **params: Any) -> ChatResult:
        m = await self.aresolve_model(model)
        kw = self._chat_kwargs(messages, m, params)
        t0 = time.perf_counter()
        with self._translated():
            resp = await self._acreate(self.aclient.chat.completions, kw)
        return chat_result(resp, m, t0, self.name, self.base_url)

    def _stream_kwargs(self, messages: Messages, model: str, params: dict[str, Any]) -> dict[str, Any]:
        kw = self._chat_kwargs(messages, model, params)
        kw["stream"] = True
        kw.setdefault("stream_options", {"include_usage": True})
        return kw

    def stream(self, messages: Messages, *, model: str | None = None, **params: Any) -> ChatStream:
        """Stream a chat: iterate the returned :class:`ChatStream` for text deltas, then read ``.result``."""
        m = self.resolve_model(model)
        kw = self._stream_kwargs(messages, m, params)
        acc = StreamAccumulator(self.name, m, time.perf_counter())
        return ChatStream(lambda: self.client.chat.completions.create(**kw), acc, self.base_url, self.timeouts)

    async def astream(self, messages: Messages, *, model: str | None = None, **params: Any) -> AsyncChatStream:
        m = await self.aresolve_model(model)
        kw = self._stream_kwargs(messages, m, params)
        acc = StreamAccumulator(self.name, m, time.perf_counter())
        return AsyncChatStream(lambda: self.aclient.chat.completions.create(**kw), acc, self.base_url, self.timeouts)

    # ------------------------------------------------------ completions, responses

    def complete(self, prompt: str, *, model: str | None = None, **params: Any) -> ChatResult:
        """A legacy text completion (``/v1/completions``)."""
        m = self.resolve_model(model)
        kw = self._params(params)
        t0 = time.perf_counter()
        with self._translated():
            resp = self._create(self.client.completions, dict(kw, model=m, prompt=prompt))
        return completion_result(resp, m, t0, self.name, self.base_url)

    async def acomplete(self, prompt: str, *, model: str | None = None, **params: Any) -> ChatResult:
        m = await self.aresolve_model(model)
        kw = self._params(params)
        t0 = time.perf_counter()
        with self._translated():
            resp = await self._acreate(self.aclient.completions, dict(kw, model=m, prompt=prompt))
        return completion_result(resp, m, t0, self.name, self.base_url)

    def respond(self, input: Any, *, model: str | None = None, **params: Any) -> ChatResult:
        """A Responses API call (``/v1/responses``: OpenAI, LM Studio). Raises
        :class:`~nxs_lab.errors.UnsupportedEndpoint` where the server has none."""
        m = self.resolve_model(model)
        t0 = time.perf_counter()
        with self._translated():
            resp = self._create(self.client.responses, dict(params, model=m, input=input))
        return response_result(resp, m, t0, self.name, self.base_url)

    async def arespond(self, input: Any, *, model: str | None = None, **params: Any) -> ChatResult:
        m = await self.aresolve_model(model)
        t0 = time.perf_counter()
        with self._translated():
            resp = await self._acreate(self.aclient.responses, dict(params, model=m, input=input))
        return response_result(resp, m, t0, self.name, self.base_url)

    # -------------------------------------------------------------- embeddings

    def _embedding_choice(self, models: list[ModelInfo]) -> str | None:
        """The listed embedding model, or ``None`` when there is none (the chat model embeds then)."""
        if any(m.kind is ModelKind.EMBEDDING for m in models):
            return self._pick(models, ModelKind.EMBEDDING)
        return None

    def _embedding_model(self, model: str | None) -> str:
        if model is not None:
            return self._check_allowed(model)
        return self._embedding_choice(self.list_models()) or self.resolve_model(None)

    def embed(self, texts: str | Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """One vector per text. A single string gives a list with one vector."""
        items = [texts] if isinstance(texts, str) else list(texts)
        if not items:
            return []
        m = self._embedding_model(model)
        with self._translated():
            resp = self._create(self.client.embeddings, dict(model=m, input=items, encoding_format="float"))
        return vectors(resp, len(items), self.name, self.base_url)

    async def aembed(self, texts: str | Sequence[str], *, model: str | None = None) -> list[list[float]]:
        items = [texts] if isinstance(texts, str) else list(texts)
        if not items:
            return []
        if model is None:
            model = self._embedding_choice(await self.alist_models()) or await self.aresolve_model(None)
        m = self._check_allowed(model)
        with self._translated():
            resp = await self._acreate(self.aclient.embeddings, dict(model=m, input=items, encoding_format="float"))
        return vectors(resp, len(items), self.name, self.base_url)

    # ------------------------------------------------------------------ health

    def health(self) -> Health:
        """Whether ``/v1/models`` answers, and how fast. An endpoint failure is reported, not raised."""
        t0 = time.perf_counter()
        try:
            n = len(self.list_models(refresh=True))
        except ProviderError as exc:
            return Health(False, self.name, redact_url(self.base_url), time.perf_counter() - t0, error=str(exc))
        return Health(True, self.name, redact_url(self.base_url), time.perf_counter() - t0, models=n)

    async def ahealth(self) -> Health:
        t0 = time.perf_counter()
        try:
            n = len(await self.alist_models(refresh=True))
        except ProviderError as exc:
            return Health(False, self.name, redact_url(self.base_url), time.perf_counter() - t0, error=str(exc))
        return Health(True, self.name, redact_url(self.base_url), time.perf_counter() - t0, models=n)

    def models_html(self) -> str:
        return models_table(self.list_models())
