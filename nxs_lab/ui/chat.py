"""ChatPanel: pick a provider (or the whole fallback chain) and a model, type, watch the answer stream in.

    >>> from nxs_lab.ui import ChatPanel
    >>> ChatPanel([local, kimi], transcript="runs/chat.jsonl")      # doctest: +SKIP

Enter sends (Shift+Enter starts a new line). Answers render as Markdown with highlighted code; each says who
answered, in how long, after which failovers, and whether it was cut at ``max_tokens``. Streaming runs on a
background thread, so the kernel stays free, and repaints only the message being written. A context meter
shows the tokens used of the model's window. The panel only drives core objects.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from ..client.provider import Provider
from ..context.meter import ContextMeter
from ..defaults import DEMO_MODEL_NOTE
from ..errors import NxsLabError
from ..models import LoadState, ModelInfo, ModelKind
from ..resilience.fallback import FallbackChain
from ..resilience.requestlog import RequestLog, default_request_log
from ..resilience.targets import CHAIN, Targets, configured
from ..tools.transcript import Transcript
from ._base import Panel, panel_box
from ._chatview import ChatView
from .markdown import to_html

__all__ = ["ChatPanel"]

CHAIN_LABEL = "all, in order (fallback chain)"  # the dropdown's label for CHAIN (its value is the sentinel)
# What the model dropdown says when the chain is chosen: each provider answers with its own model.
EACH_OWN = "each provider's own"
# Keys the panel keeps on its messages for display; they are never sent to a server.
_PANEL_ONLY = frozenset({"stopped", "interrupted", "reasoning", "meta", "cut"})
# The answer being streamed is repainted at most this often (seconds): ten times a second reads as live.
_REPAINT_S = 0.1
# Answers are capped here unless the panel is told otherwise: a few paragraphs, and a small model on two cores
# writes them in under 15 s; a longer answer is marked "cut at max_tokens", and the field is there to raise it.
DEFAULT_MAX_TOKENS = 512


class ChatPanel(Panel):
    """A chat box over one or more providers (``None``: the ones configured, see :mod:`nxs_lab.userconfig`).
    ``messages`` is the conversation so far. ``log``: the request log, one line per attempt and no content; ``True``
    keeps it where ``nxs-lab logs`` reads it (``request_log_path``: the user's data folder, or the runs folder when one
    is set), ``False`` none. Every answer goes through a fallback chain
    (a chosen provider is a chain of one behind the same breaker), so the log and the failover are the core's."""

    def __init__(
        self,
        providers: Provider | FallbackChain | Sequence[Provider] | None = None,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        system: str | None = None,
        transcript: str | None = None,
        log: RequestLog | bool | None = True,
    ) -> None:
        self.log: RequestLog | None = default_request_log() if log is True else (log or None)  # see the docstring
        self.targets = self._targets_of(providers, self.log)
        self.transcript = Transcript.load(transcript) if transcript else None
        self.messages: list[dict[str, Any]] = list(self.transcript.messages) if self.transcript else []
        if system and not self.messages:
            self._append({"role": "system", "content": system})
        self.choice = widgets.Dropdown(description="provider", layout=widgets.Layout(width="360px"))
        # as wide as its longest name needs (up to the panel's width), never clipping it
        self.model_choice = widgets.Dropdown(
            description="model", layout=widgets.Layout(width="auto", min_width="360px", max_width="100%")
        )
        self.max_tokens = widgets.BoundedIntText(
            value=max_tokens, min=1, max=1_000_000, description="max tokens", layout=widgets.Layout(width="200px")
        )
        self.view = self.input = ChatView()  # ``input.value`` is the box's text, as on a Textarea
        self.send_button = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.clear_button = widgets.Button(description="Clear", icon="trash")
        self.status = widgets.HTML()
        self.meter = widgets.FloatProgress(value=0, min=0, max=1, description="context")
        self.meter_label = widgets.HTML()
        self.widget = panel_box(
            [
                widgets.HTML("<b>Chat</b>"),
                widgets.HBox([self.choice, self.model_choice, self.max_tokens]),
                self.view,
                widgets.HBox([self.send_button, self.stop_button, self.clear_button]),
                self.status,
                widgets.HBox([self.meter, self.meter_label]),
            ],
            "nxs-chat-panel",
        )
        self._stop = threading.Event()
        self._active: Any = None  # the stream being read, so Stop can close it from the UI thread
        self._meter = ContextMeter()
        self._models: dict[str, list[ModelInfo]] = {}
        self._partial = self._thought = ""  # the answer and thinking being streamed
        self._lister: threading.Thread | None = None  # lists the chosen provider's models
        self.last_result: Any = None
        self.error: BaseException | None = None
        self.send_button.on_click(lambda _b: self.send())
        self.stop_button.on_click(lambda _b: self.stop())
        self.clear_button.on_click(lambda _b: self.clear())
        self.view.on_send(lambda text: self.send(text))
        self.choice.observe(lambda _c: self._show_models(), names="value")
        self._refresh_choices()
        self._render()
        note = configured.take_note() if providers is None else None
        # The servers were found, not configured: say which, and how to pin them, until the first answer is read.
        self._found = f"<span style='color:#555'>{html.escape(note)}</span>" if note else ""
        self.status.value = self._found

    # -------------------------------------------------------------- providers

    @staticmethod
    def _targets_of(providers: Any, log: RequestLog | None) -> Targets:
        if providers is None:
            return configured.targets("ChatPanel")
        if isinstance(providers, FallbackChain):
            return Targets(providers)  # its own log, if any, is the caller's choice
        listed = [providers] if isinstance(providers, Provider) else list(providers)
        if not listed:
            raise ValueError("ChatPanel needs at least one provider")
        return Targets.of(listed, log=log)

    @property
    def chain(self) -> FallbackChain:
        """The chain over every provider of the panel."""
        return self.targets.chain

    @property
    def _providers(self) -> list[Provider]:
        return list(self.targets.providers)

    def _refresh_choices(self) -> None:
        options: list[tuple[str, Any]] = [(p.name, p.name) for p in self._providers]
        if len(options) > 1:
            options.append((CHAIN_LABEL, CHAIN))
        self.choice.options = options
        self.choice.value = CHAIN if len(options) > 1 else options[0][1]
        self._show_models()

    def use(self, provider: Provider) -> None:
        """Add a provider (e.g. from the DiscoveryPanel's ``on_select``) and select it."""
        self._models.pop(provider.name, None)
        self.targets = self.targets.with_provider(provider)
        self._refresh_choices()
        self.choice.value = provider.name

    @property
    def target(self) -> FallbackChain:
        """What a message is sent through: the chain, or the chosen provider as a chain of one."""
        return self.targets.pick(self.choice.value, "ChatPanel")

    @property
    def provider(self) -> Provider | None:
        """The chosen provider (``None`` when the whole chain is chosen)."""
        return None if self.choice.value is CHAIN else next(p for p in self._providers if p.name == self.choice.value)

    @property
    def model(self) -> str | None:
        """The model chosen for the selected provider (``None``: the chain, where each uses its own)."""
        value = self.model_choice.value
        return None if value in (None, EACH_OWN) else str(value)

    def _show_models(self) -> None:
        """Fill the model dropdown for the chosen provider: listed on a thread (the kernel stays free)."""
        target = self.provider
        if target is None:
            self.model_choice.options, self.model_choice.disabled = [EACH_OWN], True
            return
        self.model_choice.disabled = False
        if target.name in self._models:
            self._fill_models(target)
            return
        self.model_choice.options = [(target.model or "(the server's)", target.model or EACH_OWN)]
        self._lister = threading.Thread(target=self._list_models, args=(target,), daemon=True)
        self._lister.start()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running answer and the model listing (if any) end."""
        if self._lister is not None:
            self._lister.join(timeout)
        super().wait(timeout)

    def _list_models(self, provider: Provider) -> None:
        try:
            self._models[provider.name] = _chat_models(provider.list_models())
        except NxsLabError as exc:  # the dropdown keeps the configured model; choosing the provider again retries
            self._models.pop(provider.name, None)
            self.status.value = f"models of {html.escape(provider.name)}: {html.escape(str(exc)[:200])}"
        if self.choice.value == provider.name:
            self._fill_models(provider)

    def _fill_models(self, provider: Provider) -> None:
        models = self._models.get(provider.name) or []
        options = [(_model_label(m), m.id) for m in models]
        if provider.model and provider.model not in {m.id for m in models}:
            options.insert(0, (provider.model, provider.model))
        if not options:
            options = [("(the server's)", EACH_OWN)]
        self.model_choice.options = options
        ids = [v for _, v in options]
        self.model_choice.value = provider.model if provider.model in ids else ids[0]

    # ---------------------------------------------------------------- actions

    def _append(self, message: dict[str, Any]) -> None:
        if self.transcript is not None:  # the transcript keeps the thinking and the marks, not display text
            self.transcript.append({k: v for k, v in message.items() if k not in ("meta", "cut")})
        self.messages.append(message)

    def send(self, text: str | None = None, wait: bool = False) -> None:
        """Send the box's text (or ``text``); the answer streams in on a background thread."""
        if self.busy:
            self.status.value = (
                "<span style='color:#b00020'>still answering: press Stop or wait, then send again "
                "(your message is still in the box)</span>"
            )
            return
        content = (text if text is not None else self.input.value).strip()
        if not content:
            self.status.value = "<span style='color:#b00020'>type a message first</span>"
            return
        self.input.value = ""
        self._append({"role": "user", "content": content})
        self._render()
        self._stop.clear()
        self.error = None
        self.status.value = "answering…"
        self.send_button.disabled, self.stop_button.disabled = True, False
        params: dict[str, Any] = {"max_tokens": int(self.max_tokens.value)}
        if self.model is not None and self.provider is not None:
            params["model"] = self.model
        self._background(self._stream, self.target, params, wait=wait)

    def stop(self) -> None:
        """Stop the answer now: the stream is closed at once, even while the server says nothing."""
        self._stop.set()
        stream = self._active
        if stream is not None:
            stream.stop()

    def clear(self) -> None:
        self.messages = [m for m in self.messages if m["role"] == "system"]
        self.status.value = ""
        self.view.live = {}
        self._render()

    def _read(self, stream: Any) -> None:
        """Read the stream into ``_partial`` and ``_thought``, repainting the live message as they grow."""
        last_paint = 0.0
        for delta in stream.deltas():
            if delta.reasoning:
                self._thought += delta.text
            else:
                self._partial += delta.text
            if time.monotonic() - last_paint > _REPAINT_S:
                self.view.live = {"html": to_html(self._partial), "thinking": self._thought}
                last_paint = time.monotonic()

    def _stream(self, target: FallbackChain, params: dict[str, Any]) -> None:
        stopped = False
        self._partial = self._thought = ""
        try:
            stream = self._active = target.stream(_wire(self.messages), **params)
            if self._stop.is_set():  # Stop came before the stream existed
                stream.stop()
            self._read(stream)
            stopped = self._stop.is_set()
        except NxsLabError as exc:
            self._failed(exc)
        else:
            result = stream.result
            self.last_result = result
            if stopped:
                self._append(
                    {"role": "assistant", "content": self._partial, "stopped": True, "reasoning": self._thought}
                )
                self.status.value = "stopped: the partial answer is kept and marked as stopped"
            elif result is not None:
                meta = self._describe(result)
                self._append({**result.message(), "reasoning": result.reasoning, "meta": meta, "cut": result.truncated})
                self.status.value = meta + (f"<br>{self._found}" if self._found else "")
                self._found = ""
        finally:
            self._active = None
            self._partial = self._thought = ""
            self.view.live = {}
            self._render()
            if self.error is None and not stopped:
                # Only after an answer: a provider that just failed is not asked again (for its window) from here.
                self._update_meter()
            self.send_button.disabled, self.stop_button.disabled = False, True

    def _failed(self, exc: NxsLabError) -> None:
        self.error = exc
        partial = getattr(exc, "partial_text", "") or self._partial
        thinking = getattr(exc, "partial_reasoning", "") or self._thought
        if partial or thinking:
            self._append({"role": "assistant", "content": partial, "interrupted": True, "reasoning": thinking})
        self._say_error(f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _describe(result: Any) -> str:
        hops = [a for a in result.attempts if a.provider != result.provider]
        via = "".join(
            f" · {html.escape(a.provider)}: {html.escape(a.outcome.value)}"
            + (f" ({html.escape(a.error)})" if a.error else "")
            for a in hops
        )
        cut = (
            f" <span style='color:#b00020'>⚠ the server cut the prompt: it counted {result.usage.prompt_tokens} of "
            f"~{result.prompt_tokens_sent} tokens sent (its window is smaller than it says)</span>"
            if result.prompt_truncated
            else ""
        )
        usage = result.usage
        cached = (
            f" · {usage.cached_tokens:,} of {usage.prompt_tokens:,} prompt tokens from the server's cache"
            if usage.cached_tokens is not None and usage.prompt_tokens
            else ""
        )
        demo = (
            f" <span style='color:#8a6d00'>· {html.escape(DEMO_MODEL_NOTE)}</span>"
            if getattr(result, "demo_model", False)
            else ""
        )
        return (
            f"answered by <b>{html.escape(result.provider)}</b> ({html.escape(result.model)}) in "
            f"{result.latency_s:.2f} s" + cached + (f"; failovers:{via}" if hops else "") + cut + demo
        )

    def _update_meter(self) -> None:
        provider = self.provider or self._providers[0]
        if self.provider is None and self.last_result is not None:
            provider = next((p for p in self._providers if p.name == self.last_result.provider), provider)
        try:
            use = self._meter.measure(provider, _wire(self.messages), self.model)
        except NxsLabError as exc:
            self.meter_label.value = f"context: unknown ({html.escape(type(exc).__name__)})"
            return
        if use.window:
            self.meter.max = use.window
            self.meter.value = min(use.tokens, use.window)
        self.meter_label.value = html.escape(use.label())

    def _render(self) -> None:
        """Send the finished messages to the view: once per message, never per token."""
        self.view.messages = [_display(m) for m in self.messages]


def _wire(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as a server is sent it: the panel's own keys left out."""
    return [{k: v for k, v in m.items() if k not in _PANEL_ONLY} for m in messages]


def _display(m: dict[str, Any]) -> dict[str, Any]:
    """One message as the view shows it: rendered Markdown for answers, plain text for what the user typed."""
    text = str(m.get("content") or "")
    body = to_html(text) if m["role"] == "assistant" else html.escape(text).replace("\n", "<br>")
    if m.get("tool_calls"):
        names = ", ".join(html.escape(c.get("function", {}).get("name", "?")) for c in m["tool_calls"])
        body += f"<p><i>asked to call: {names}</i></p>"
    mark = (
        "cut at max_tokens: the answer is incomplete (raise max tokens and ask again)"
        if m.get("cut")
        else "(stopped)"
        if m.get("stopped")
        else "(interrupted)"
        if m.get("interrupted")
        else ""
    )
    return {
        "role": m["role"],
        "html": body,
        "text": text,
        "thinking": m.get("reasoning") or "",
        "meta": m.get("meta") or "",
        "mark": mark,
    }


def _chat_models(models: list[ModelInfo]) -> list[ModelInfo]:
    """The models one can chat with, loaded ones first (picking an unloaded one makes the server load it)."""
    rank = {LoadState.LOADED: 0, LoadState.UNKNOWN: 1, LoadState.NOT_LOADED: 2}
    usable = [m for m in models if m.kind is not ModelKind.EMBEDDING]
    return sorted(usable, key=lambda m: rank.get(m.loaded, 1))


def _model_label(m: ModelInfo) -> str:
    """What the model dropdown shows: a file path (llama-server names a model by its GGUF path) by its file name,
    so the whole name fits; the value stays the id the server takes."""
    state = {LoadState.LOADED: " (loaded)", LoadState.NOT_LOADED: " (not loaded)"}.get(m.loaded, "")
    window = f", {m.context_window:,} tokens" if m.context_window else ""
    path = m.id.replace("\\", "/")
    name = path.rsplit("/", 1)[-1] if "/" in path and path.endswith(".gguf") else m.id
    return f"{name}{state}{window}"
