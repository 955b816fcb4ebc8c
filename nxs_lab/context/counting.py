"""The counters that ask a server, and the choice of the best counter for a provider.

=================  ============================================  =====================
counter            how                                           error bound
=================  ============================================  =====================
ServerCounter      whole chats: the server applies its own       exact
                   template and tokenizes the result (llama.cpp
                   ``/apply-template`` + ``/tokenize``, vLLM
                   ``/tokenize`` with ``messages``)
ServerCounter      text: the server's own tokenizer (llama.cpp   exact
                   ``/tokenize``, llama-cpp-python
                   ``/extras/tokenize/count``, vLLM ``/tokenize``)
GGUFCounter,       see :mod:`nxs_lab.tokens` (they need no
TiktokenCounter,   provider)
EstimateCounter
=================  ============================================  =====================

:func:`counter_for` measures the chat template's overhead once per provider and model (cached in the provider's
catalogue): through the server's own template where it applies one for us (no generation), else with five
1-token requests (:func:`~nxs_lab.context.calibration.calibrate`), for servers on the user's machines and
networks. Where the server applies its template for us, :meth:`ServerCounter.count_chat` is exact whatever the
template does, tools included (llama-server started with ``--jinja``, vLLM).

The request-free primitives (counts, overheads, the estimate and tiktoken counters) are re-exported here from
:mod:`nxs_lab.tokens`, their home.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .._net import Scope, url_scope
from ..client import BaseProvider
from ..errors import ProviderError, UnsupportedEndpoint
from ..tokens.count import (
    TOOLS_PREAMBLE,
    ChatOverhead,
    CountCorrection,
    CountMethod,
    Message,
    TokenCount,
    TokenCounter,
    ToolSpec,
    content_text,
    message_key,
    tool_spec,
    tools_key,
)
from ..tokens.counters import EstimateCounter, GGUFCounter, TiktokenCounter
from . import calibration

__all__ = [
    "TOOLS_PREAMBLE",
    "ChatOverhead",
    "CountCorrection",
    "CountMethod",
    "EstimateCounter",
    "GGUFCounter",
    "ServerCounter",
    "TiktokenCounter",
    "TokenCount",
    "TokenCounter",
    "ToolSpec",
    "counter_for",
    "remember_correction",
    "tool_spec",
]

log = logging.getLogger("nxs_lab.context")


class ServerCounter(TokenCounter):
    """The server's own tokenizer, through its adapter (exact). Where the server also applies its chat template
    for us (llama.cpp's ``/apply-template``, vLLM's ``/tokenize`` with ``messages``), whole chats are counted
    exactly by :meth:`count_chat`, and :meth:`calibrate_from_template` measures the overhead with no generation."""

    method = CountMethod.SERVER
    _CHAT_CACHE = 4096  # whole-chat counts kept (a fit asks for the same turns again as a history grows)

    def __init__(self, provider: BaseProvider, model: str | None = None, overhead: ChatOverhead | None = None) -> None:
        super().__init__(overhead)
        self.catalog = provider.catalog
        self.model = self.catalog.resolve(model)
        if self.catalog.count_tokens("probe", self.model) is None:
            raise UnsupportedEndpoint(
                f"this {self.catalog.server_kind} server has no tokenizer endpoint",
                provider=provider.name,
                base_url=provider.base_url,
            )
        self._chat_counts: dict[tuple[Any, ...], int] = {}
        self._applies_template: bool | None = None  # unknown until asked
        self._template_takes_tools: bool | None = None  # llama-server renders tools only when started with --jinja

    def _count(self, text: str) -> int:
        n = self.catalog.count_tokens(text, self.model)
        if n is None:  # the endpoint answered the probe, so this is the server changing under us
            raise UnsupportedEndpoint(
                "the server's tokenizer endpoint stopped answering",
                provider=self.catalog.config.name,
                base_url=self.catalog.config.base_url,
            )
        return n

    @property
    def applies_template(self) -> bool:
        """Whether the server applies its chat template for us (asked once)."""
        if self._applies_template is None:
            self._applies_template = self._template_count([{"role": "user", "content": "probe"}]) is not None
        return self._applies_template

    def _template_count(self, messages: Sequence[Message], tools: ToolSpec | None = None) -> int | None:
        if tools and self._template_takes_tools is False:
            return None
        key = (*(message_key(m) for m in messages), tools_key(tools))
        n = self._chat_counts.get(key)
        if n is None:
            n = self.catalog.count_chat(list(messages), self.model, tools)
            if tools:
                self._template_takes_tools = n is not None
            if n is None:
                return None
            if len(self._chat_counts) >= self._CHAT_CACHE:
                self._chat_counts.clear()
            self._chat_counts[key] = n
        return n

    def count_chat(self, messages: Sequence[Message], tools: ToolSpec | None = None) -> TokenCount:
        """Exact when the server applies its template (with the tools, if any) and every part is text; else
        :meth:`count_messages`."""
        # A correction (the server rewrites what its template renders) means its template count is not the prompt.
        if self.correction is None and self.applies_template and not any(content_text(m)[1] for m in messages):
            n = self._template_count(messages, tools)
            if n is not None:
                return TokenCount(n, CountMethod.SERVER_TEMPLATE, 0, "measured")
        return self.count_messages(messages, tools)

    def calibrate_from_template(self) -> ChatOverhead | None:
        """The overhead measured through the server's template (no generation); ``None`` where it has none."""
        if not self.applies_template:
            return None

        def sent(msgs: list[Message]) -> int:
            n = self._template_count(msgs)
            if n is None:
                raise UnsupportedEndpoint("the server stopped applying its chat template")
            return n

        overhead = self.measure_overhead(sent)
        return self.use_overhead(overhead) if overhead is not None else None


def counter_for(provider: BaseProvider, model: str | None = None, *, calibrate: bool | None = None) -> TokenCounter:
    """The best counter available for ``provider``'s model: server tokenizer, else tiktoken, else an estimate.

    The chat template's overhead is measured, once per provider and model (cached in its catalogue):
    through the server's own template where it applies one for us (no generation), else with five 1-token
    requests (:func:`~nxs_lab.context.calibration.calibrate`). ``calibrate=None`` (the default) does that for servers on the
    user's machines and networks and keeps the assumed overhead, with its wider error bound, for public cloud
    hosts or a server whose usage cannot be measured; ``True`` always measures and raises when it cannot;
    ``False`` sends no request for it (an overhead measured before is still used). A correction the server's own
    counts taught for this provider and model (see :func:`remember_correction`) is applied too.
    """
    counter: TokenCounter
    try:
        counter = ServerCounter(provider, model)
    except ProviderError:  # no tokenizer endpoint, or it failed: the next best counter (ModelNotAllowed propagates)
        m = (model or provider.model or "").lower()
        try:
            counter = TiktokenCounter(exact_for_model=m.startswith(("gpt-4", "gpt-3.5", "text-embedding-3")))
        except (LookupError, ImportError):
            counter = EstimateCounter()  # labelled as an estimate in every count it makes
    catalog = provider.catalog
    key = (catalog.resolve(model), counter.method.value)
    counter.use_correction(catalog.count_corrections.get(key))  # what the server's counts taught, for any counter
    cached = catalog.overheads.get(key)
    if cached is not None:  # measured before for this provider and model: no request
        counter.use_overhead(cached)
        return counter
    if calibrate is False:
        return counter
    overhead = counter.calibrate_from_template() if isinstance(counter, ServerCounter) else None
    if overhead is None and (calibrate or url_scope(provider.base_url) is not Scope.PUBLIC):
        try:
            overhead = calibration.calibrate(counter, provider, model)
        except ProviderError as exc:
            if calibrate:
                raise
            log.info(
                "%s: the chat template's overhead stays assumed (with its wider error bound): %s", provider.name, exc
            )
    if overhead is not None:
        catalog.overheads[key] = overhead
    return counter


def remember_correction(provider: BaseProvider, model: str | None, counter: TokenCounter) -> None:
    """Keep ``counter``'s correction for ``provider``'s ``model`` (in its catalogue, shared with its async twin), so
    every counter :func:`counter_for` makes for them counts the same way."""
    catalog = provider.catalog
    catalog.count_corrections[(catalog.resolve(model), counter.method.value)] = counter.correction
