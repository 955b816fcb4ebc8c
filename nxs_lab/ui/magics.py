"""Notebook magics: ``%load_ext nxs_lab``, then

    %%chat [NAME] [--model M] [--max-tokens N] [--as VAR]
    What is the capital of France?

streams the answer into the cell's output as Markdown, through ``NAME`` (a Provider or FallbackChain in the
notebook, a configured provider's name, or ``chain``: every configured provider in priority order; default: the one
``%nxs use`` chose, else the chain), says who answered and after which failovers, and binds the
:class:`~nxs_lab.ChatResult` to ``_`` (and to ``VAR``). The chain is made once per kernel from the settings in force
(:mod:`nxs_lab.userconfig`), so its breakers remember a dead provider from one cell to the next. Interrupting the
kernel stops the answer. ``%nxs discover [HOST …]``, ``%nxs status``, ``%nxs use NAME`` and ``%nxs`` alone (help)
complete it.
"""

from __future__ import annotations

import argparse
import functools
import html
import shlex
import sys
import time
from collections.abc import Callable
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import HTML, Markdown, display

from ..errors import ConfigError, NoServer, NxsLabError
from ..resilience.targets import configured
from .markdown import to_html

__all__ = ["NxsMagics", "load_ipython_extension"]

HELP = (
    "%%chat [NAME] [--model M] [--max-tokens N] [--as VAR] (the cell is the question) · %nxs discover [HOST …] · "
    "%nxs status · %nxs use NAME (the default for %%chat; 'chain' for every configured provider)"
)
_REPAINT_S = 0.1  # the answer's output is repainted at most this often while it streams


def _chat_args(line: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="%%chat", add_help=False, exit_on_error=False)
    parser.add_argument("target", nargs="?")
    parser.add_argument("--model", "-m")
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--as", dest="name")
    try:
        args, extra = parser.parse_known_args(shlex.split(line))
    except argparse.ArgumentError as exc:
        raise ConfigError("%%chat", [("", str(exc))]) from None
    if extra:
        raise ConfigError("%%chat", [(" ".join(extra), f"not understood; {HELP}")])
    return args


def _said(where: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A magic whose expected failures (the kit's errors: nothing configured, a bad option, every provider down)
    are said in a line or two on stderr, naming the magic, never as a traceback."""

    def wrap(magic: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(magic)
        def said(self: Any, *args: Any) -> Any:
            try:
                return magic(self, *args)
            except NxsLabError as exc:
                print(f"{where}: {_brief(exc)}", file=sys.stderr)
                return None

        return said

    return wrap


def _brief(exc: NxsLabError) -> str:
    """The error in a line or two: a bad value as ``key: what was wrong`` (the magic is named before it)."""
    if isinstance(exc, ConfigError) and not isinstance(exc, NoServer):
        return "\n  ".join(f"{key}: {msg}" if key else msg for key, msg in exc.problems)
    return str(exc)


def _note() -> None:
    """What answers, when it was found rather than configured: said once, as the first output of a magic."""
    note = configured.take_note()
    if note:
        display(Markdown(f"<span style='color:#777;font-size:11px'>{html.escape(note)}</span>"))


def _footer(result: Any) -> str:
    return "<div style='color:#777;font-size:11px'>" + html.escape(" · ".join(result.trail())) + "</div>"


@magics_class
class NxsMagics(Magics):
    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.ns: dict[str, Any] = shell.user_ns  # the notebook's variables
        self.default: str | None = None  # what %nxs use chose

    # ------------------------------------------------------------------ what answers

    def chain(self, where: str = "%%chat") -> Any:
        """The configured providers as one chain (shared with the jupyter-ai provider, kept for the kernel's life)."""
        chain = configured.chain(where)
        _note()
        return chain

    def target(self, name: str | None, where: str = "%%chat") -> Any:
        """A Provider or chain in the notebook's namespace, a configured provider, or the whole chain."""
        name = name or self.default
        found = self.ns.get(name) if name else None
        if hasattr(found, "stream") and hasattr(found, "chat"):
            return found
        target = configured.target(name, where)
        _note()
        return target

    # ------------------------------------------------------------------ magics

    @cell_magic
    @_said("%%chat")
    def chat(self, line: str, cell: str) -> None:
        args = _chat_args(line)
        question = cell.strip()
        if not question:
            raise ConfigError("%%chat", [("", "the cell below %%chat is the question, and it is empty")])
        params: dict[str, Any] = {"max_tokens": args.max_tokens}
        if args.model:
            params["model"] = args.model
        stream = self.target(args.target).stream([{"role": "user", "content": question}], **params)
        handle = display(HTML(""), display_id=True)
        text, shown = "", 0.0
        try:
            for delta in stream:
                text += delta
                if time.monotonic() - shown >= _REPAINT_S:
                    handle.update(HTML(to_html(text)))
                    shown = time.monotonic()
        except KeyboardInterrupt:
            stream.stop()
            handle.update(HTML(to_html(text) + "<div style='color:#a00'>[stopped]</div>"))
            return
        result = stream.result
        handle.update(HTML(to_html(result.text) + _footer(result)))
        self._bind_underscore(result)
        if args.name:
            self.ns[args.name] = result

    def _bind_underscore(self, result: Any) -> None:
        """``_`` is the answer, as if the cell had returned it (without showing it twice): IPython's own history
        of ``_``, ``__`` and ``___`` moves along, so later cells' results still take ``_`` over."""
        hook = self.shell.displayhook  # type: ignore[union-attr]
        hook.___, hook.__, hook._ = hook.__, hook._, result
        self.shell.push({"_": hook._, "__": hook.__, "___": hook.___}, interactive=False)  # type: ignore[union-attr]

    @line_magic
    @_said("%nxs")
    def nxs(self, line: str) -> Any:
        words = shlex.split(line)
        if not words:
            display(Markdown(f"`{HELP}`"))
            return None
        command, rest = words[0], words[1:]
        if command == "discover":
            from ..discovery import discover

            return discover(rest or ["127.0.0.1"])
        if command == "status":
            import pandas as pd

            chain = self.chain("%nxs status")
            rows = chain.status(configured.settings.origins if configured.settings else None)
            return pd.DataFrame(rows)
        if command == "use" and len(rest) == 1:
            self.target(
                rest[0], "%nxs use"
            )  # refuses a name that answers to nothing, now rather than at the next %%chat
            self.default = rest[0]
            display(Markdown(f"`%%chat` now asks **{rest[0]}**"))
            return None
        raise ConfigError("%nxs", [(line, f"not understood; {HELP}")])


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nxs_lab`` (or ``nxs_lab.ui.magics``)."""
    ipython.register_magics(NxsMagics(ipython))
