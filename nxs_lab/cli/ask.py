"""``nxs-lab ask`` and ``nxs-lab chat``: questions from the shell through the configured fallback chain, streamed
to stdout; who answered, in how long and after which failovers goes to stderr, so ``ask … > answer.md`` keeps only
the answer. Ctrl-C stops an answer (in ``chat``, not the program)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, NxsLabError
from ._common import EXIT_INTERRUPTED, answering, key_from_env, positive, request_log_path, settings

__all__ = ["add", "ask", "chat"]

HELP = "/model NAME picks a model (/model alone says which), /clear forgets the chat, /exit leaves (or Ctrl-D)"


def _chain(args: argparse.Namespace) -> Any:
    """The chain to ask: one ``--base-url``, or the configured providers (only ``--provider`` ones if given),
    with the CLI's request log."""
    from ..config import LabConfig, ProviderConfig
    from ..resilience.fallback import FallbackChain
    from ..resilience.requestlog import RequestLog
    from ..resilience.targets import configured_targets

    log = RequestLog(request_log_path(args), include_content=settings(args).config.log.content)
    if args.base_url:  # the settings file is not read: a broken one must not stop a call that does not use it
        one = ProviderConfig.checked(name="cli", base_url=args.base_url, api_key=key_from_env(args.api_key_env))
        return FallbackChain.from_config(LabConfig(providers=[one]), log=log, fit=True)
    where = "--provider" if args.provider else "nxs-lab"
    return configured_targets(answering(args), args.provider or None, where=where, log=log).chain


def _answer(chain: Any, messages: Sequence[dict[str, str]], params: dict[str, Any]) -> Any:
    """Stream one answer to stdout; the result, or ``None`` when Ctrl-C stopped it."""
    stream = chain.stream(messages, **params)
    try:
        for text in stream:
            sys.stdout.write(text)
            sys.stdout.flush()
    except KeyboardInterrupt:
        stream.stop()
        print("\n[stopped]", file=sys.stderr)
        return None
    print()
    print("[" + " · ".join(stream.result.trail()) + "]", file=sys.stderr)
    return stream.result


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {"max_tokens": args.max_tokens}
    if args.model:
        params["model"] = args.model
    return params


def _start(args: argparse.Namespace) -> list[dict[str, str]]:
    return [{"role": "system", "content": args.system}] if args.system else []


def ask(args: argparse.Namespace) -> int:
    question = " ".join(args.question).strip()
    if not question or question == "-":
        question = sys.stdin.read().strip()
    if not question:
        raise ConfigError("nxs-lab ask", [("question", "give a question as arguments or on stdin")])
    with _chain(args) as chain:
        result = _answer(chain, [*_start(args), {"role": "user", "content": question}], _params(args))
    return 0 if result is not None else EXIT_INTERRUPTED


def _command(line: str, history: list[dict[str, str]], args: argparse.Namespace) -> bool:
    """Handle a ``/command``; False to leave."""
    name, _, rest = line.partition(" ")
    if name in ("/exit", "/quit", "/bye"):
        return False
    if name == "/clear":
        history[:] = _start(args)
        print("[the chat is forgotten]", file=sys.stderr)
    elif name == "/model":
        if rest.strip():
            args.model = rest.strip()
        print(f"[model: {args.model or 'each provider its own'}]", file=sys.stderr)
    else:
        print(f"[{HELP}]", file=sys.stderr)
    return True


def chat(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("readline") is not None:  # line editing and history for input(), where it exists
        importlib.import_module("readline")
    history = _start(args)
    with _chain(args) as chain:
        names = " → ".join(p.name for p in chain.providers)
        print(f"[chatting through {names}; {HELP}; Ctrl-C stops an answer]", file=sys.stderr)
        while True:
            try:
                line = input(">>> ").strip()
            except EOFError:
                print()
                return 0
            except KeyboardInterrupt:
                print("\n[Ctrl-D or /exit leaves]", file=sys.stderr)
                continue
            if not line:
                continue
            if line.startswith("/"):
                if not _command(line, history, args):
                    return 0
                continue
            history.append({"role": "user", "content": line})
            try:
                result = _answer(chain, history, _params(args))
            except NxsLabError as exc:
                print(f"\n[{type(exc).__name__}: {exc}]", file=sys.stderr)
                result = None
            if result is None:
                history.pop()  # a question without its answer would confuse the next turn
            else:
                history.append({"role": "assistant", "content": result.text})


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provider", action="append", help="only this configured provider (repeat for several)")
    p.add_argument("--base-url", help="ask this server instead of the configured ones")
    p.add_argument("--api-key-env", help="with --base-url: environment variable holding its API key")
    p.add_argument("-m", "--model", help="the model (default: each provider's configured or loaded one)")
    p.add_argument("--max-tokens", type=positive(int), default=1024, help="the longest answer (default 1024)")
    p.add_argument("-s", "--system", help="a system prompt")


def add(sub: Any) -> None:
    a = sub.add_parser("ask", help="ask one question through the fallback chain (streamed; who answered on stderr)")
    a.add_argument("question", nargs="*", help="the question (none, or -: read it from stdin)")
    _common(a)
    a.set_defaults(func=ask)
    c = sub.add_parser("chat", help="an interactive chat through the fallback chain")
    _common(c)
    c.set_defaults(func=chat)
