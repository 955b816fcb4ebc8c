"""What a provider is, apart from I/O: its settings, its catalogue, and every decision made before a request.

:class:`~nxs_lab.Provider` and :class:`~nxs_lab.AsyncProvider` both derive from
:class:`BaseProvider` (as httpx's ``Client``/``AsyncClient`` share ``BaseClient``), so what is
sent, which model is chosen and how a reply is read cannot drift between them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, Self

import httpx2
from pydantic import SecretStr

from .._net import redact_url
from ..config import ProviderConfig, Timeouts
from ..defaults import LOCAL_BASE_URL
from ..errors import ConfigError, ResponseTimeout
from ..results import ChatResult, Health
from ..tokens.truncation import check_truncation
from ._allowance import IDENTITY, Allowance
from ._boundary import limited, translated
from ._native import NativeHTTPClient, auth_headers, httpx_timeout, proxy_transport_arg
from ._ollama import AsyncLines, chunk_from_line, ollama_request, reply_as_completion
from ._replies import chat_result
from .cache import ResponseCache, is_deterministic, request_key
from .catalog import ModelCatalog
from .streaming import AsyncCachedStream, CachedStream, ChatStream, StreamAccumulator

__all__ = ["NO_KEY", "BaseProvider", "Messages"]

Messages = Sequence[Mapping[str, Any]]
# Local servers ignore the key, but the SDK insists on one. Not secret, not a real key.
NO_KEY = "nxs-lab-no-key"


def _config(
    config: ProviderConfig | None,
    name: str,
    base_url: str,
    api_key: str | SecretStr | None,
    model: str | None,
    fields: dict[str, Any],
) -> ProviderConfig:
    if config is not None:
        given = {k: v for k, v in fields.items() if v is not None}
        if given:
            raise TypeError(f"give a ProviderConfig or keyword settings, not both (got {sorted(given)})")
        # The key itself, not the name of a variable holding it: a provider never reads the environment later.
        return config.model_copy(
            update={"api_key": config.resolved_api_key(), "api_key_env": None, "timeouts": config.resolved_timeouts()}
        )
    # Validated like a config entry, so code and files fail the same way.
    key = api_key if isinstance(api_key, SecretStr) or api_key is None else SecretStr(api_key)
    allowed = fields.pop("allowed_models")
    cfg = ProviderConfig.checked(
        name=name,
        base_url=base_url,
        api_key=key,
        model=model,
        allowed_models=tuple(allowed) if allowed is not None else None,
        **{k: v for k, v in fields.items() if v is not None},
    )
    return cfg.model_copy(update={"timeouts": cfg.resolved_timeouts()})


_COUNTS = ("max_tokens", "max_output_tokens", "max_completion_tokens", "n", "seed", "top_k")
_REALS = ("temperature", "top_p", "min_p", "frequency_penalty", "presence_penalty", "repeat_penalty")


def _check_numbers(kw: Mapping[str, Any]) -> None:
    """Refuse a call parameter of the wrong type before anything is sent (``max_tokens="32"``), naming it."""
    for name in _COUNTS:
        value = kw.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{name} must be a whole number, not {type(value).__name__} {value!r:.40}")
    for name in _REALS:
        value = kw.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TypeError(f"{name} must be a number, not {type(value).__name__} {value!r:.40}")


def _check_text(text: str, where: str) -> None:
    """Refuse text that cannot be sent as UTF-8 (a lone surrogate, from a bad decode), saying where it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{where} is not valid Unicode text: a lone surrogate {text[exc.start]!r} at character {exc.start} "
            "(decode the source with errors='replace', or drop it)"
        ) from None


def within_total(method: Any) -> Any:
    """Run a provider method (sync or async) under its :meth:`BaseProvider._whole_call`."""
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def awrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            with self._whole_call():
                return await method(self, *args, **kwargs)

        return awrapped

    @functools.wraps(method)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._whole_call():
            return method(self, *args, **kwargs)

    return wrapped


class BaseProvider:
    """Settings, catalogue and request building shared by the sync and async providers.

    Args:
        name: what results and errors call this provider.
        base_url: the API root, usually ending in ``/v1``.
        api_key: a key (kept as ``SecretStr``; never shown), or ``None`` for local servers.
        model: the model to use; ``None`` detects the first loaded chat model the server lists.
        config: all of the above as one :class:`~nxs_lab.ProviderConfig` instead of keywords.
        timeouts: connect / first-byte / idle / total seconds; default by distance (loopback, LAN, internet).
        allowed_models: when given, any other model is refused before a request is sent.
        context_window, max_tokens, reserve: the budget this provider's requests must fit.
        max_response_bytes: the largest reply accepted (default 64 MiB); a larger one is :class:`ResponseTooLarge`.
        num_ctx: Ollama only: run the model with this window (sent as ``options.num_ctx`` through Ollama's native
            chat, since its ``/v1`` endpoints cannot) and budget against it.
        proxy: the proxy to go through (a URL; ``False``: none); by default the environment's (``HTTPS_PROXY``,
            ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) for public hosts, never for loopback (see :mod:`nxs_lab._proxy`).
        catalog: share another provider's :class:`ModelCatalog` (its probes and caches).
    """

    def __init__(
        self,
        name: str = "default",
        base_url: str = LOCAL_BASE_URL,
        api_key: str | SecretStr | None = None,
        model: str | None = None,
        *,
        config: ProviderConfig | None = None,
        timeouts: Timeouts | None = None,
        allowed_models: Iterable[str] | None = None,
        context_window: int | None = None,
        max_tokens: int | None = None,
        reserve: int | None = None,
        max_response_bytes: int | None = None,
        num_ctx: int | None = None,
        proxy: str | SecretStr | Literal[False] | None = None,
        catalog: ModelCatalog | None = None,
        native_transport: httpx2.BaseTransport | None = None,
        cache: bool | str | os.PathLike[str] | ResponseCache | None = None,
    ) -> None:
        fields = dict(
            timeouts=timeouts,
            allowed_models=allowed_models,
            context_window=context_window,
            max_tokens=max_tokens,
            reserve=reserve,
            max_response_bytes=max_response_bytes,
            num_ctx=num_ctx,
            proxy=SecretStr(proxy) if isinstance(proxy, str) else proxy,
        )
        self.config = catalog.config if catalog is not None else _config(config, name, base_url, api_key, model, fields)
        self._transport: Any = None
        self._http: Any = None
        self._client: Any = None
        # A shared catalogue belongs to the provider that made it: only the owner closes it.
        self._owns_catalog = catalog is None
        # The response cache (nxs_lab.client.cache): True or a path for deterministic requests, "always" for all.
        self.cache, self.cache_always = _cache_of(cache)
        self.catalog = catalog or ModelCatalog(self.config, NativeHTTPClient(self.config, native_transport))

    @classmethod
    def from_config(cls, cfg: ProviderConfig, **kw: Any) -> Self:
        """Build from a :class:`ProviderConfig` (resolving ``api_key_env``)."""
        return cls(config=cfg, **kw)

    # ---------------------------------------------------------------- settings

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def base_url(self) -> str:
        return self.config.base_url

    @property
    def model(self) -> str | None:
        """The configured (or, once detected, the detected) model; ``None`` until then."""
        return self.config.model

    @model.setter
    def model(self, value: str | None) -> None:
        self.config.model = value

    @property
    def timeouts(self) -> Timeouts:
        return self.config.resolved_timeouts()

    @property
    def allowed_models(self) -> tuple[str, ...] | None:
        return self.config.allowed_models

    @property
    def context_window(self) -> int | None:
        return self.config.context_window

    @property
    def max_tokens(self) -> int | None:
        return self.config.max_tokens

    @property
    def reserve(self) -> int:
        return self.config.reserve

    @property
    def has_api_key(self) -> bool:
        return self.config.api_key is not None or self.config.basic_auth is not None

    def _sdk_key(self) -> str:
        return self.config.api_key.get_secret_value() if self.config.api_key is not None else NO_KEY

    # What differs between the sync and the async half: the client classes and the pool size.
    _http_class: Any = None  # httpx2.Client | httpx2.AsyncClient
    _transport_class: Any = None  # AllowanceTransport | AsyncAllowanceTransport
    _sdk_class: str = ""  # "OpenAI" | "AsyncOpenAI"
    _limits = httpx2.Limits(max_connections=100, max_keepalive_connections=20)

    @property
    def http(self) -> Any:
        """The HTTP client the SDK's calls go through (made on first use)."""
        if self._http is None:
            transport = self._transport or self._transport_class(limits=self._limits, proxy=self._proxy())
            self._http = self._http_class(timeout=httpx_timeout(self.timeouts), transport=transport, headers=IDENTITY)
        return self._http

    def _proxy(self) -> Any:
        """The ``httpx2.Proxy`` this provider's requests go through, or ``None``."""
        return proxy_transport_arg(self.config)

    @property
    def client(self) -> Any:
        """The underlying openai SDK client (``max_retries=0``: retries are the kit's), made on first use."""
        if self._client is None:
            import openai

            self._client = getattr(openai, self._sdk_class)(
                base_url=self.base_url,
                api_key=self._sdk_key(),
                max_retries=0,
                timeout=httpx_timeout(self.timeouts),
                http_client=self.http,
                # basic-auth credentials replace the SDK's bearer header (a key and basic auth never meet)
                default_headers=auth_headers(self.config) if self.config.basic_auth is not None else None,
            )
        return self._client

    # ------------------------------------------------------------------ display

    def __repr__(self) -> str:
        key = "SecretStr('**********')" if self.has_api_key else "None"
        return (
            f"{type(self).__name__}(name={self.name!r}, base_url={redact_url(self.base_url)!r}, "
            f"model={self.model!r}, api_key={key})"
        )

    def _repr_html_(self) -> str:
        from .._html import kv_table

        t = self.timeouts
        return kv_table(
            f"provider {self.name}",
            {
                "base_url": redact_url(self.base_url),
                "model": self.model or "(auto-detect)",
                "api key": "set (hidden)" if self.has_api_key else "none",
                "timeouts": f"connect {t.connect}s, first byte {t.first_byte}s, idle {t.idle}s",
                "allowed models": ", ".join(self.allowed_models) if self.allowed_models is not None else "any",
            },
        )

    # ------------------------------------------------------- request building

    def _close_catalog(self) -> None:
        """What closing a provider releases besides its connections: its catalogue (if its own), and its answers
        still waiting for the response cache are written."""
        if self._owns_catalog:
            self.catalog.close()
        if self.cache is not None:
            self.cache.flush()

    def _translated(self) -> Any:
        return translated(self.name, self.base_url)

    def _whole_call(self) -> Any:
        """One ``timeouts.total`` over a call and every request it makes inside it (finding the server's kind, its
        models, the reply), so a call never takes a multiple of its limit; nothing without a total. The kit's own
        start-up (importing the SDK and building its client, once per provider) comes first and is not counted."""
        total = self.timeouts.total
        if total is None:
            return contextlib.nullcontext()
        self.client  # noqa: B018 - built now, so a first call's total is the server's time
        return limited(Allowance.within(total, None), self._total_timeout, self.name, self.base_url)

    def _limited(self, seconds: float | None) -> Any:
        """A call under an allowance of ``seconds`` (``timeouts.total``; ``None``: no deadline) and the byte cap."""
        allowance = Allowance.within(seconds, self.config.max_response_bytes)
        return limited(allowance, self._total_timeout, self.name, self.base_url)

    def _total_timeout(self) -> ResponseTimeout:
        return ResponseTimeout(
            f"no complete reply within the total timeout ({self.timeouts.total:g} s)",
            provider=self.name,
            base_url=self.base_url,
        )

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The call's parameters without ``None`` values, with the provider's ``max_tokens`` as the default."""
        kw = {k: v for k, v in params.items() if v is not None}
        _check_numbers(kw)
        if "max_tokens" not in kw and self.max_tokens is not None:
            kw["max_tokens"] = self.max_tokens
        return kw

    def _chat_kwargs(self, messages: Messages, model: str, params: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)) or not messages:
            raise TypeError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
        for i, m in enumerate(messages):
            if not isinstance(m, Mapping) or "role" not in m:
                raise TypeError(f"messages[{i}] must be a dict with a 'role' key, got {m!r:.80}")
            content = m.get("content")
            if not (
                content is None
                or isinstance(content, str)
                or (isinstance(content, list) and all(isinstance(part, Mapping) for part in content))
            ):
                raise TypeError(
                    f"messages[{i}]['content'] must be text, a list of content parts or None, "
                    f"not {type(content).__name__} (decode bytes first)"
                )
            if isinstance(content, str):
                _check_text(content, f"messages[{i}]['content']")
        kw = self._with_extras(self._params(params))
        kw["model"] = model
        kw["messages"] = list(messages)
        return kw

    def _respond_kwargs(self, input: Any, model: str, params: dict[str, Any]) -> dict[str, Any]:
        """A Responses call's arguments with the provider's defaults, as chat has them: its ``max_tokens`` (or the
        call's) as ``max_output_tokens``, the Responses API's name for it."""
        kw = self._params(params)
        limit = kw.pop("max_tokens", None)
        if limit is not None:
            kw.setdefault("max_output_tokens", limit)
        kw["model"], kw["input"] = model, input
        return kw

    def _with_extras(self, kw: dict[str, Any]) -> dict[str, Any]:
        """``kw`` with the body fields this server's kind asks for (llama-server: ``cache_prompt``) under the
        caller's own ``extra_body``."""
        extras = self.catalog.request_extras()
        if extras:
            kw["extra_body"] = {**extras, **(kw.get("extra_body") or {})}
        return kw

    def _stream_kwargs(self, messages: Messages, model: str, params: dict[str, Any]) -> dict[str, Any]:
        kw = self._chat_kwargs(messages, model, params)
        kw["stream"] = True
        kw.setdefault("stream_options", {"include_usage": True})
        return kw

    def _new_stream(self, stream_class: Any, kw: dict[str, Any], num_ctx: int | None = None) -> Any:
        """A (sync or async) chat stream of ``kw``, opened when first read, under this provider's limits; through
        Ollama's native chat when a window (``num_ctx``) is asked for."""
        key = self._cache_key(kw, kw["model"])
        hit = self._from_cache(key)
        if hit is not None:  # the answer replays at once, as one delta; its result says it came from the cache
            return (CachedStream if stream_class is ChatStream else AsyncCachedStream)(hit)
        opened = kw["model"] in self.catalog.thinking_opened
        acc = StreamAccumulator(self.name, kw["model"], time.perf_counter(), thinking_opened=opened)
        opener: Any = lambda: self.client.chat.completions.create(**kw)  # noqa: E731
        if num_ctx is not None:
            body = ollama_request(kw, num_ctx)
            if stream_class is ChatStream:
                opener = lambda: self._ollama_chunks(body)  # noqa: E731
            else:

                async def opener() -> Any:
                    return AsyncLines(self._ollama_chunks(body))

        return stream_class(
            opener,
            acc,
            self.base_url,
            self.timeouts,
            self.config.max_response_bytes,
            on_result=lambda r: self._to_cache(key, self._stream_finished(r, acc, kw)),
        )

    def _stream_finished(self, result: ChatResult, acc: StreamAccumulator, kw: Mapping[str, Any]) -> ChatResult:
        """A stream's result checked for a cut prompt; a model whose template opens its thinking is remembered, so
        its next streams split thinking from answer as they arrive."""
        if acc.template_opened_thinking:
            self.catalog.thinking_opened.add(kw["model"])
        return self._checked_for_truncation(result, kw["messages"], acc.fingerprint)

    def _ollama_num_ctx(self) -> int | None:
        """The window to ask Ollama for, when one is configured (probes the server's kind once, blocking)."""
        n = self.config.num_ctx
        if n is None:
            return None
        server = self.catalog.server
        if server.kind != "ollama":
            why = (
                f"{n} is asked for through Ollama's native chat, but this is a {server.label} server: its window is "
                "set when it starts (set context_window to budget against it)"
            )
            raise ConfigError(f"provider {self.name!r}", [("num_ctx", why)])
        return n

    def _ollama_chat(self, messages: Messages, model: str, params: dict[str, Any], num_ctx: int) -> ChatResult:
        """A chat through Ollama's native ``/api/chat`` with ``options.num_ctx`` (blocking)."""
        body = ollama_request(self._chat_kwargs(messages, model, params), num_ctx)
        t0 = time.perf_counter()
        with self._translated():
            reply = self.catalog.http.post_json("/api/chat", body)
        result = chat_result(reply_as_completion(reply, self.name, self.base_url), model, t0, self.name, self.base_url)
        return self._checked_for_truncation(result, messages, "fp_ollama")

    def _ollama_chunks(self, body: dict[str, Any]) -> Iterator[Any]:
        http: Any = self.catalog.http  # the NativeHTTPClient every catalogue is built with
        lines = http.stream_lines("/api/chat", body)
        try:
            for line in lines:
                yield chunk_from_line(line)
        finally:
            lines.close()

    def _cache_key(self, kw: Mapping[str, Any], model: str) -> str | None:
        """The key a chat request is cached under, or ``None`` when this one is not cached (no cache, or not a
        deterministic request and the cache is not ``"always"``)."""
        if self.cache is None or not (self.cache_always or is_deterministic(kw)):
            return None
        return request_key("chat", kw, self.catalog.provenance(model))

    def _from_cache(self, key: str | None) -> ChatResult | None:
        if key is None or self.cache is None:
            return None
        t0 = time.perf_counter()
        stored = self.cache.get(key)
        return ResponseCache.answer(stored, self.name, time.perf_counter() - t0) if stored is not None else None

    def _to_cache(self, key: str | None, result: ChatResult) -> ChatResult:
        if key is not None and self.cache is not None and result.finish_reason is not None:
            self.cache.put_later(key, result)  # written behind the call: a miss costs the lookup only
        return result

    def _checked_for_truncation(self, result: ChatResult, messages: Messages, fingerprint: str | None) -> ChatResult:
        """``result`` flagged ``prompt_truncated`` when a server known to cut over-long prompts silently (Ollama)
        counted far fewer prompt tokens than were sent. No request: the count is tiktoken's, or an estimate,
        with its error bound (a :class:`~nxs_lab.ContextGuard` checks again with its exact count)."""
        result = self._with_provenance(result)
        if not self.catalog.cuts_prompts_silently(fingerprint):
            return result
        return check_truncation(result, self.catalog.rough_count(list(messages)))

    def _with_provenance(self, result: ChatResult, model: str | None = None) -> ChatResult:
        """``result`` with where it came from (what the catalogue knows: no request)."""
        asked = model or result.model
        return dataclasses.replace(result, provenance=self.catalog.provenance(asked, result.model))

    @staticmethod
    def _embed_items(texts: str | Sequence[str]) -> list[str]:
        return [texts] if isinstance(texts, str) else list(texts)

    def _health(self, t0: float, n: int | None, error: Exception | None) -> Health:
        url = redact_url(self.base_url)
        if error is not None:
            return Health(False, self.name, url, time.perf_counter() - t0, error=str(error))
        return Health(True, self.name, url, time.perf_counter() - t0, models=n or 0)

    # ------------------------------------------------------------- the catalogue

    @property
    def server_kind(self) -> str:
        return self.catalog.server_kind

    @property
    def server_version(self) -> str | None:
        return self.catalog.server_version


def _cache_of(cache: Any) -> tuple[ResponseCache | None, bool]:
    """A provider's ``cache=`` argument as the cache and whether it takes every request."""
    if cache is None or cache is False:
        return None, False
    if isinstance(cache, ResponseCache):
        return cache, False
    if cache is True or cache == "always":
        return ResponseCache.at(), cache == "always"
    if isinstance(cache, (str, os.PathLike)):
        return ResponseCache.at(cache), False
    raise TypeError(f"cache: give True, 'always', a file's path or a ResponseCache, not {type(cache).__name__}")
