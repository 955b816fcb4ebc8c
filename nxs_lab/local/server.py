"""LocalServer: a real OpenAI-compatible server with the bundled model, in a subprocess.

    >>> import nxs_lab as nx
    >>> with nx.LocalServer() as srv:                    # doctest: +SKIP
    ...     p = srv.provider()
    ...     print(p.chat([{"role": "user", "content": "hi"}]).text)

It binds 127.0.0.1 on a free port unless told otherwise. Binding any other
address needs an API key (one is generated if none is given) and warns.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import time
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from .._html import kv_table
from .._net import is_loopback
from .._process import ChildServer
from ..defaults import EMBEDDED_N_CTX, EMBEDDED_OMP_WAIT_POLICY
from ..errors import ServerStartError
from .bundled import BUNDLED_CHAT_ALIAS, BUNDLED_EMBED_ALIAS, bundled_model_path
from .protocol import KEY_ENV

if TYPE_CHECKING:
    from ..client.provider import Provider

__all__ = ["LocalServer", "ModelSpec"]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One alias the embedded server carries."""

    alias: str
    path: str
    kind: str = "chat"  # chat | embedding
    n_ctx: int = EMBEDDED_N_CTX
    chat_format: str = "chatml-function-calling"
    preload: bool = True


# Every LocalServer this process started, in the order they started (values: when).
_STARTED: weakref.WeakKeyDictionary[LocalServer, float] = weakref.WeakKeyDictionary()


class LocalServer(ChildServer):
    """The embedded default server: llama-cpp-python's, serving SmolLM2-135M-Instruct.

    Args:
        host: address to bind; ``127.0.0.1`` by default. Anything else requires an API key.
        port: ``0`` (default) picks a free port.
        n_ctx: context window of every alias.
        api_key: required for non-loopback hosts (generated when missing).
        embedding: also serve the embedding alias (mean pooling, one vector per input).
        extra_models: more aliases, ``{alias: gguf_path}`` (e.g. quantization variants), loaded on first use.
        n_threads: CPU threads per model (default: all cores). llama.cpp's OpenMP threads wait passively
            (``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it), so a busy core elsewhere slows
            generation instead of stalling it (see ``defaults.EMBEDDED_OMP_WAIT_POLICY``).
        startup_timeout: seconds to wait for ``/v1/models`` before giving up.
    """

    what = "the embedded server"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        n_ctx: int = EMBEDDED_N_CTX,
        api_key: str | SecretStr | None = None,
        model_path: str | os.PathLike[str] | None = None,
        chat_alias: str = BUNDLED_CHAT_ALIAS,
        embed_alias: str = BUNDLED_EMBED_ALIAS,
        embedding: bool = True,
        extra_models: Mapping[str, str | os.PathLike[str]] | None = None,
        n_threads: int | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        super().__init__()
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not is_loopback(host) and not key:
            key = secrets.token_urlsafe(24)
            self._generated_key = True
        else:
            self._generated_key = False
        self.api_key = SecretStr(key) if key else None
        path = str(model_path) if model_path is not None else str(bundled_model_path())
        threads = n_threads or os.cpu_count() or 1
        self.chat_alias = chat_alias
        self.embed_alias = embed_alias if embedding else None
        specs = [ModelSpec(chat_alias, path, "chat", n_ctx)]
        if embedding:
            specs.append(ModelSpec(embed_alias, path, "embedding", n_ctx))
        for alias, extra in (extra_models or {}).items():
            specs.append(ModelSpec(alias, str(extra), "chat", n_ctx, preload=False))
        self.specs = tuple(specs)
        self._threads = threads

    # ---------------------------------------------------------------- state

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not started; call start() or use it in a with block")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else ("[::1]" if self.host == "::" else self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    def __repr__(self) -> str:
        state = f"running on {self.base_url}" if self.running else "stopped"
        return f"LocalServer({self.chat_alias!r}, {state})"

    def _repr_html_(self) -> str:
        return kv_table(
            "embedded server",
            {
                "state": "running" if self.running else "stopped",
                "base_url": self.base_url if self.port else None,
                "chat model": self.chat_alias,
                "embedding model": self.embed_alias,
                "context window": self.n_ctx,
                "api key": "required (hidden)" if self.api_key else "none (loopback only)",
                "pid": self.pid,
            },
        )

    # ------------------------------------------------------------ lifecycle

    def start(self) -> LocalServer:
        """Start the server and wait until it answers ``/v1/models``."""
        if self.running:
            return self
        if not is_loopback(self.host):
            warnings.warn(
                f"the embedded server binds {self.host}: other machines can reach it. "
                + (
                    "An API key was generated (LocalServer.api_key)."
                    if self._generated_key
                    else "It requires the API key."
                ),
                stacklevel=2,
            )
        sock = self._listen()
        self.port = sock.getsockname()[1]
        spec_path = self.folder / "spec.json"
        spec_path.write_text(json.dumps(self._launch_spec(sock.fileno())), encoding="utf-8")
        try:
            argv = [sys.executable, "-m", "nxs_lab.local.launcher", str(spec_path)]
            self._spawn(argv, self._child_env(), pass_fds=(sock.fileno(),))
        finally:
            sock.close()  # the child holds its own copy
        headers = {"Authorization": f"Bearer {self.api_key.get_secret_value()}"} if self.api_key else {}
        self._ready_or_stopped(self.base_url + "/models", headers, self.startup_timeout)
        _STARTED[self] = time.monotonic()
        return self

    @staticmethod
    def running_here() -> list[LocalServer]:
        """The LocalServers this process started that are still running, oldest first (what a notebook made
        with ``nx.LocalServer().start()``: the command line, the magics and the panels answer through it when
        nothing is configured)."""
        started = sorted(list(_STARTED.items()), key=lambda item: item[1])
        return [server for server, _ in started if server.running]

    def _listen(self) -> socket.socket:
        """The listening socket, made here so the port is known before the child starts (nothing races for it)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.requested_port))
            sock.listen(2048)  # bursts of concurrent clients must queue, not see dropped SYNs
        except OSError as exc:
            sock.close()
            hint = " (is another server on it? choose another port, or 0 for a free one)" if self.requested_port else ""
            raise ServerStartError(f"cannot bind {self.host}:{self.requested_port}: {exc.strerror}{hint}") from exc
        sock.set_inheritable(True)
        return sock

    def _launch_spec(self, fd: int) -> dict[str, Any]:
        """What the launcher process builds: the socket it inherits and every model alias."""
        models = [
            {
                "alias": s.alias,
                "path": s.path,
                "kind": s.kind,
                "n_ctx": s.n_ctx,
                "chat_format": s.chat_format,
                "preload": s.preload,
                "n_threads": self._threads,
            }
            for s in self.specs
        ]
        return {"host": self.host, "port": self.port, "fd": fd, "parent_pid": os.getpid(), "models": models}

    def _child_env(self) -> dict[str, str]:
        """The launcher's environment: the key (never on the command line), and none of the stock server's
        settings variables, which it would otherwise read."""
        env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
        if self.api_key is not None:
            env[KEY_ENV] = self.api_key.get_secret_value()
        for var in ("CONFIG_FILE", "MODEL", "HOST", "PORT", "API_KEY"):
            env.pop(var, None)
        if "OMP_WAIT_POLICY" not in env and "GOMP_SPINCOUNT" not in env:  # the user's own OpenMP choice wins
            env["OMP_WAIT_POLICY"] = EMBEDDED_OMP_WAIT_POLICY
        return env

    # ---------------------------------------------------------------- usage

    def provider(self, name: str = "local", **kw: Any) -> Provider:
        """A :class:`~nxs_lab.Provider` for this server (its chat alias, its key)."""
        from ..client.provider import Provider

        kw.setdefault("model", self.chat_alias)
        kw.setdefault("context_window", self.n_ctx)
        return Provider(name=name, base_url=self.base_url, api_key=self.api_key, **kw)

    def describe(self) -> list[dict[str, Any]]:
        """What the server carries: alias, kind, window, quantization, loaded (from ``/nxs/models``)."""
        return self.provider().get_json("/nxs/models")["models"]

    def prompt_counters(self) -> dict[str, dict[str, int]]:
        """Per loaded chat model, the server's running totals of prompt tokens received, reused from its cache
        (the prefix llama.cpp already held) and evaluated (``/nxs/metrics``): how much of a long chat's prompts
        the server really computed."""
        counters: dict[str, dict[str, int]] = self.provider().get_json("/nxs/metrics")
        return counters
