"""What every server adapter offers, and the small HTTP interface it needs."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

from ..errors import ProviderError
from ..models import ModelInfo

__all__ = ["NativeHTTP", "ServerAdapter"]


class NativeHTTP(Protocol):
    """What an adapter needs to talk to a server: JSON GET/POST relative to its root (``/…``)."""

    def get_json(self, path: str) -> Any: ...

    def post_json(self, path: str, payload: Any) -> Any: ...


class ServerAdapter:
    """One server kind. Subclasses override what their native endpoints can tell.

    ``probe`` answers whether the server at the other end is this kind (and its
    version, when it says), ``models`` lists normalized :class:`ModelInfo` from
    the native endpoints, ``context_window`` the window a model runs with, and
    ``count_tokens`` counts with the server's own tokenizer (``None`` when it has none) and
    ``count_chat`` a whole chat through the server's own chat template (``None`` when it cannot).
    """

    kind = "generic"
    label = "OpenAI-compatible"
    # A server that answers an over-long prompt with a 200 after cutting it: every reply is checked against it.
    cuts_prompts_silently = False
    fingerprint: str | None = None  # the system_fingerprint its replies carry, when that tells the kind
    lists_models_without_key = True  # False: /v1/models fails without its key, yet the kind is told by its probe
    # Fields every chat or completion to this kind carries in its body, once the kind is known.
    request_extras: Mapping[str, Any] = MappingProxyType({})

    def probe(self, http: NativeHTTP) -> tuple[bool, str | None]:
        return True, None

    def models(self, http: NativeHTTP) -> list[ModelInfo]:
        from .generic import models_from_openai_list

        return models_from_openai_list(http.get_json("/v1/models"), server_kind=self.kind)

    def context_window(self, http: NativeHTTP, model: str) -> int | None:
        for m in self.models(http):
            if m.id == model:
                return m.context_window
        return None

    def count_tokens(self, http: NativeHTTP, model: str, text: str) -> int | None:
        return None

    def opens_thinking(self, http: NativeHTTP, model: str) -> bool | None:
        """Whether ``model``'s chat template opens a ``<think>`` block itself (its answers then begin with thinking
        and no opening tag); ``None`` when the server cannot say."""
        return None

    def count_chat(
        self, http: NativeHTTP, model: str, messages: list[Any], tools: Mapping[str, Any] | None = None
    ) -> int | None:
        """Tokens in a whole chat as the server's template lays it out (with ``tools``: the call's ``tools`` and
        ``tool_choice``, which templates render too), or ``None`` when the server cannot say."""
        return None

    @staticmethod
    def _try(fn: Any, *args: Any) -> Any:
        """Call a probe request; an endpoint error means "not this kind", not a failure of the scan."""
        try:
            return fn(*args)
        except ProviderError:
            return None
