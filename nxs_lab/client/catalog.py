"""ModelCatalog: what one server serves, read once through the adapter for its kind.

The server's kind (LM Studio, Ollama, llama.cpp …) is found by probing its native endpoints
once; its models, their windows and its tokenizer are then read through that kind's adapter.
:class:`~nxs_lab.Provider` and :class:`~nxs_lab.AsyncProvider` share one catalogue, so a
provider and its async twin always detect the same model (they used to disagree).

    >>> cat = provider.catalog                                  # doctest: +SKIP
    >>> cat.server_kind, cat.detect_model(), cat.context_window_info()   # doctest: +SKIP
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import functools
import logging
import threading
from collections.abc import Mapping
from typing import Any

from .._net import Scope, redact_url, url_scope
from ..config import ProviderConfig
from ..defaults import PROBE_MAX_BYTES, PROVENANCE_SECONDS
from ..errors import ModelNotAllowed, ModelNotFound, ProviderError, ResponseTimeout
from ..models import LoadState, ModelInfo, ModelKind
from ..results import Provenance
from ..servers import ADAPTERS, GENERIC, NativeHTTP, ServerAdapter, identify
from ..tokens.count import TokenCount, TokenCounter
from ..tokens.counters import EstimateCounter, TiktokenCounter
from ._allowance import Allowance
from ._boundary import shape_checked

__all__ = ["ModelCatalog", "pick_model"]

log = logging.getLogger("nxs_lab.catalog")


def pick_model(models: list[ModelInfo], kind: ModelKind, config: ProviderConfig) -> str:
    """The first loaded model of ``kind`` in the allowlist, else the first one listed; a vision-language model
    counts as a chat model (it chats, and a loaded one must not make the server load a second model)."""
    kinds = {kind, ModelKind.VLM} if kind is ModelKind.CHAT else {kind}
    allowed = [m for m in models if config.allowed_models is None or m.id in config.allowed_models]
    for m in allowed:
        if m.kind in kinds and m.loaded is not LoadState.NOT_LOADED:
            return m.id
    for m in allowed:
        if m.kind in kinds:
            return m.id
    raise ModelNotFound(
        f"the server lists no {kind.value} model"
        + (" in the allowlist" if config.allowed_models is not None else "")
        + f" (it lists: {', '.join(m.id for m in models) or 'nothing'})",
        provider=config.name,
        base_url=config.base_url,
    )


class ModelCatalog:
    """The models of one server, its kind, windows and token counts; cached, thread-safe.

    Args:
        config: the provider's settings (name, base_url, model, allowlist, configured window).
        http: JSON over HTTP to the server's native endpoints.
    """

    def __init__(self, config: ProviderConfig, http: NativeHTTP) -> None:
        self.config = config
        self.http = http
        self._lock = threading.RLock()
        self._server: ServerAdapter | None = None
        self.server_version: str | None = None
        self._models: list[ModelInfo] | None = None
        self._learned: dict[str, int] = {}  # windows the server stated in an overflow error, per model
        # Chat-template overheads measured once per (model, counting method): see nxs_lab.context.counting.counter_for.
        self.overheads: dict[tuple[str, str], Any] = {}
        # What the server's own counts taught a counter of the same key (it escapes prompts, or counts more).
        self.count_corrections: dict[tuple[str, str], Any] = {}
        # Models whose chat template opens a <think> block itself (seen in a stream: nxs_lab.client.reasoning).
        self.thinking_opened: set[str] = set()
        self._thinking_asked: set[str] = set()  # models whose template was asked whether it opens thinking
        self._rough: TokenCounter | None = None  # the request-free counter of rough_count, made on first use
        self._provenance_tried = False  # whether the server and its models were read for an answer's provenance

    # ------------------------------------------------------------------ the server

    @property
    def server(self) -> ServerAdapter:
        """The adapter for this server's kind, found by probing its native endpoints once.

        Public (cloud) hosts are not probed: they are OpenAI-compatible and nothing more is asked of them.
        """
        with self._lock:
            if self._server is None:
                if url_scope(self.config.base_url) is Scope.PUBLIC:
                    self._server, self.server_version = GENERIC, None
                else:
                    server, version = identify(self.http)
                    if Allowance.passed():  # probes cut short by the call's deadline prove nothing: keep no guess
                        raise ResponseTimeout(
                            "the server's kind could not be found within the call's total timeout",
                            provider=self.config.name, base_url=self.config.base_url,
                        )  # fmt: skip
                    self._server, self.server_version = server, version
            return self._server

    @property
    def server_kind(self) -> str:
        return self.server.kind

    def thinking_unknown(self, model: str) -> bool:
        """Whether :meth:`check_thinking` would ask the server (its kind is known and has not been asked)."""
        return model not in self._thinking_asked and model not in self.thinking_opened and self._server is not None

    def check_thinking(self, model: str) -> None:
        """Ask once, where the server can say (llama-server's ``/apply-template``), whether ``model``'s template
        opens a ``<think>`` block, so even its first stream splits thinking from answer as it arrives."""
        if not self.thinking_unknown(model):
            return
        self._thinking_asked.add(model)
        if self.server.opens_thinking(self.http, model):
            self.thinking_opened.add(model)

    def request_extras(self) -> Mapping[str, Any]:
        """What every request body to this server carries for its kind, once its kind is known (no probe here)."""
        server = self._server
        return server.request_extras if server is not None else {}

    # ------------------------------------------------------------------ models

    def list_models(self, *, refresh: bool = False) -> list[ModelInfo]:
        """The models the server lists, normalized from its native endpoints. Cached until ``refresh=True``."""
        with self._lock:
            if self._models is None or refresh:
                self._models = self._read_models()
            return list(self._models)

    def _read_models(self) -> list[ModelInfo]:
        """The adapter's reading of the server's native model list; a payload of the wrong shape (an entry
        without an id, a number where a list belongs) is the server's fault and says so."""
        server = self.server
        with shape_checked(f"the {server.label} model list", self.config.name, self.config.base_url):
            return server.models(self.http)

    def detect_model(self) -> str:
        """The first loaded chat (or vision-language) model the server lists; embedding models are skipped."""
        return pick_model(self.list_models(), ModelKind.CHAT, self.config)

    def detect_embedding_model(self) -> str:
        return pick_model(self.list_models(), ModelKind.EMBEDDING, self.config)

    def embedding_model(self) -> str:
        """The listed embedding model, or the chat model when the server lists none (it then embeds)."""
        models = self.list_models()
        if any(m.kind is ModelKind.EMBEDDING for m in models):
            return pick_model(models, ModelKind.EMBEDDING, self.config)
        return self.resolve(None)

    def check_allowed(self, model: str) -> str:
        allowed = self.config.allowed_models
        if allowed is not None and model not in allowed:
            raise ModelNotAllowed(self.config.name, model, tuple(allowed))
        return model

    def known(self, model: str | None) -> str | None:
        """The model a call will use when that needs no request (given or configured), else ``None``."""
        chosen = model or self.config.model
        return self.check_allowed(chosen) if chosen is not None else None

    def resolve(self, model: str | None = None) -> str:
        """The model a call will use: the argument, the configured one, or the detected one (remembered)."""
        chosen = self.known(model)
        if chosen is not None:
            return chosen
        with self._lock:
            if self.config.model is None:
                self.config.model = self.detect_model()
        return self.check_allowed(self.config.model)

    def provenance(self, model: str, answered_as: str | None = None) -> Provenance:
        """Where an answer from ``model`` comes from: the server's kind and version, the model's quantization and
        window. Learned once per catalogue (the kind's probes and the model list, after the first answer, on a
        server that is not a public API); what cannot be learned within the call's deadline stays ``None``."""
        self._learn_for_provenance()
        info = next((m for m in self._models or () if m.id in (model, answered_as)), None)
        window: int | None
        if self.config.context_window is not None:
            window, source = self.config.context_window, "config"
        elif model in self._learned:
            window, source = self._learned[model], "learned from the server's overflow error"
        elif info is not None and info.context_window is not None:
            window, source = (
                info.context_window,
                str(info.extra.get("window_source") or f"server:{self._server_kind()}"),
            )
        else:
            window, source = None, "unknown"
        return Provenance(
            server_kind=self._server.kind if self._server is not None else None,
            server_version=self.server_version,
            model=answered_as or model,
            quantization=info.quantization if info is not None else None,
            context_window=window,
            window_source=source,
            base_url=redact_url(self.config.base_url),
            kit_version=_kit_version(),
            at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        )

    def _learn_for_provenance(self) -> None:
        if self._provenance_tried or Allowance.passed() or url_scope(self.config.base_url) is Scope.PUBLIC:
            return  # a public API is asked nothing more than the call
        self._provenance_tried = True
        if self._models is None:
            # Apart from the call it follows (a context of its own: none of its figures, such as requests sent again,
            # are the call's), within a few seconds at most: the server just answered.
            contextvars.Context().run(self._read_for_provenance)

    def _read_for_provenance(self) -> None:
        with Allowance.within(PROVENANCE_SECONDS, PROBE_MAX_BYTES).active():
            try:
                self.list_models()  # probes the kind first
            except ProviderError as exc:  # provenance is told as far as it is known; the answer stands
                log.debug("%s: what the server is could not be read for provenance: %s", self.config.name, exc)

    def _server_kind(self) -> str:
        return self._server.kind if self._server is not None else "unknown"

    # ------------------------------------------------------------ windows, tokens

    def context_window_info(self, model: str | None = None) -> tuple[int | None, str]:
        """The window for ``model`` and where the number came from: ``config``, ``server:<kind>`` or ``unknown``."""
        if self.config.context_window is not None:
            return self.config.context_window, "config"
        resolved = self.resolve(model)
        learned = self._learned.get(resolved)
        if learned is not None:
            return learned, "learned from the server's overflow error"
        if self.config.num_ctx is not None and self.server.kind == "ollama":
            return self.config.num_ctx, "num_ctx asked of ollama"
        window = self.server.context_window(self.http, resolved)
        if window is not None:
            return window, f"server:{self.server.kind}"
        return None, "unknown"

    def learn_window(self, model: str | None, window: int) -> bool:
        """Remember the window a server stated when it refused a prompt (it publishes none, or a wrong one).
        Returns whether that is news (so a caller refits and retries once, not forever)."""
        resolved = self.resolve(model)
        if self.config.context_window is not None or self._learned.get(resolved) == window or window <= 0:
            return False
        with self._lock:
            self._learned[resolved] = window
        return True

    def count_tokens(self, text: str, model: str | None = None) -> int | None:
        """Tokens in ``text`` by the server's own tokenizer, or ``None`` when it has none."""
        return self.server.count_tokens(self.http, self.resolve(model), text)

    def tool_calls(self, model: str | None = None) -> bool | None:
        """Whether the server says ``model`` can call tools: ``True``, ``False``, or ``None`` when it does not say."""
        resolved = self.resolve(model)
        return next((m.tool_calls for m in self.list_models() if m.id == resolved), None)

    def cuts_prompts_silently(self, fingerprint: str | None = None) -> bool:
        """Whether this server answers an over-long prompt with a 200 after cutting it (Ollama), as far as is
        known without a request: from its kind once probed, or from a reply's ``system_fingerprint`` (an Ollama
        behind a proxy that hides its native endpoints is probed as generic, and still signs its replies)."""
        if self._server is not None and self._server.cuts_prompts_silently:
            return True
        return fingerprint is not None and any(
            a.cuts_prompts_silently and a.fingerprint == fingerprint for a in ADAPTERS
        )

    def rough_count(self, messages: list[Any]) -> TokenCount:
        """A count of ``messages`` with no request (tiktoken offline, else characters/4), with its error bound:
        enough to see that a server counted far fewer prompt tokens than were sent."""
        with self._lock:
            if self._rough is None:
                try:
                    self._rough = TiktokenCounter()
                except (LookupError, ImportError):
                    self._rough = EstimateCounter()
            counter: TokenCounter = self._rough
        return counter.count_messages(messages)

    def count_chat(
        self, messages: list[Any], model: str | None = None, tools: Mapping[str, Any] | None = None
    ) -> int | None:
        """Tokens in a whole chat as the server's template lays it out (``tools``: the call's ``tools`` and
        ``tool_choice``), or ``None`` when the server cannot say."""
        return self.server.count_chat(self.http, self.resolve(model), messages, tools)

    def __repr__(self) -> str:
        kind = self._server.kind if self._server is not None else "not probed"
        return f"ModelCatalog({self.config.name!r}, {kind}, {len(self._models or [])} models cached)"

    def close(self) -> None:
        close: Any = getattr(self.http, "close", None)
        if close is not None:
            close()


@functools.cache
def _kit_version() -> str:
    """The installed kit's version (its package metadata; an uninstalled checkout says so)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nxs_lab")
    except PackageNotFoundError:
        return "unknown (not installed)"
