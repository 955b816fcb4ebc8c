"""A reasoning model's thinking, kept apart from its answer, whichever way the server sends it.

=====================  ======================================================================
where the thinking is  who sends it that way
=====================  ======================================================================
``reasoning_content``  llama-server ``--reasoning-format deepseek``, vLLM before 0.10, LM Studio
                       ("separate reasoning_content"), DeepSeek's API
``reasoning``          Ollama's ``/v1``, vLLM 0.10+, OpenRouter (gpt-oss and others)
``<think>…</think>``   inline at the start of the answer: a server that does not split it out (or
                       only the closing tag, when the chat template opened the block itself)
=====================  ======================================================================

:func:`split_thinking` takes a whole answer apart; :class:`ThinkSplitter` does it for a stream, one
delta at a time, holding back only what could still be the start of a tag. A stream cannot see that a template
opened the block until the ``</think>`` goes by, so the provider asks the server first where it can say
(``ServerAdapter.opens_thinking``): llama-server lays out the template's generation prompt (``/apply-template``),
Ollama gives its Go template (``/api/show``). LM Studio's APIs give no template: there, and on any server that
cannot say, the first stream's thinking streams as answer and :func:`settle_thinking` puts it right in the
stream's result; the provider remembers the model, and its next streams split as they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Delta", "ThinkSplitter", "reasoning_field", "settle_thinking", "split_thinking"]

OPEN, CLOSE = "<think>", "</think>"
_FIELDS = ("reasoning_content", "reasoning")


@dataclass(frozen=True, slots=True)
class Delta:
    """One piece of a streamed answer: its text, and whether it is the model's thinking (``reasoning``)."""

    text: str
    reasoning: bool = False


def reasoning_field(obj: Any) -> str | None:
    """The thinking a message or delta carries in a field of its own (``reasoning_content`` or ``reasoning``)."""
    if obj is None:
        return None
    extra = getattr(obj, "model_extra", None) or {}
    for name in _FIELDS:
        value = getattr(obj, name, None)
        if value is None and isinstance(extra, dict):
            value = extra.get(name)
        if isinstance(value, str):
            return value
    return None


def split_thinking(text: str) -> tuple[str, str]:
    """``(reasoning, answer)`` of an answer with its thinking inline. ``<think>`` first: what is inside is the
    reasoning (all of it, if the block never closed: the model ran out of tokens while thinking). Only a
    ``</think>``: the template opened the block, so what precedes the tag is the reasoning."""
    stripped = text.lstrip()
    if stripped.startswith(OPEN):
        inner, closed, after = stripped[len(OPEN) :].partition(CLOSE)
        return inner.strip(), after.lstrip() if closed else ""
    if CLOSE in text and OPEN not in text:
        inner, _, after = text.partition(CLOSE)
        return inner.strip(), after.lstrip()
    return "", text


def settle_thinking(reasoning: str, text: str, *, opened: bool, finish_reason: str | None) -> tuple[str, str]:
    """``(reasoning, answer)`` of a whole streamed answer, as :class:`ThinkSplitter` left them. Split again when
    the thinking went by as answer (a template opened the block, and the stream could not know); when the
    splitter took the template to have opened a block that never closed, the model answered without thinking
    (unless it ran out of tokens: then it was still thinking)."""
    if not reasoning and CLOSE in text and OPEN not in text:
        return split_thinking(text)
    if opened and reasoning and not text and finish_reason != "length":
        return "", reasoning.lstrip()
    return reasoning, text


class ThinkSplitter:
    """Splits streamed content into thinking and answer deltas as a leading ``<think>`` block goes by.

    Content that does not open with ``<think>`` passes through at once as answer text; inside the block, only
    the few characters that could be the start of ``</think>`` wait for the next delta. ``opened``: the chat
    template opens the block itself (the model is known to answer ``…</think>answer``), so content is thinking
    until ``</think>``.
    """

    def __init__(self, opened: bool = False) -> None:
        self._state = "start"  # start | thinking | answer
        self._held = ""
        self._answer_started = False
        self.opened = opened

    def feed(self, text: str) -> list[Delta]:
        self._held += text
        out: list[Delta] = []
        if self._state == "start":
            probe = self._held.lstrip()
            if OPEN.startswith(probe):  # still could be "<think>" (or only whitespace so far)
                return out
            if not probe.startswith(OPEN):
                self._state = "thinking" if self.opened else "answer"
            else:
                self._state, self._held = "thinking", probe[len(OPEN) :]
        if self._state == "thinking":
            inner, closed, after = self._held.partition(CLOSE)
            if not closed:
                keep = _partial_tag(self._held)
                ready, self._held = self._held[: len(self._held) - keep], self._held[len(self._held) - keep :]
                return [Delta(ready, True)] if ready else []
            if inner:
                out.append(Delta(inner, True))
            self._state, self._held = "answer", after
        if self._state == "answer":
            text_out = self._held if self._answer_started else self._held.lstrip()
            self._held = ""
            if text_out:
                self._answer_started = True
                out.append(Delta(text_out))
        return out

    def flush(self) -> list[Delta]:
        """What is still held at the end of the stream."""
        held, self._held = self._held, ""
        if not held:
            return []
        return [Delta(held, self._state == "thinking")] if self._state != "start" else [Delta(held)]


def _partial_tag(text: str) -> int:
    """How many characters at the end of ``text`` could be the start of ``</think>``."""
    for n in range(min(len(CLOSE) - 1, len(text)), 0, -1):
        if CLOSE.startswith(text[-n:]):
            return n
    return 0
