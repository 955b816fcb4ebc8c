"""The LiteLLM proxy started with the kit's exported configuration: one OpenAI-compatible URL for many clients.

    >>> with Gateway(LabConfig.load("nxs_lab.toml")) as gw:        # doctest: +SKIP
    ...     gw.base_url, gw.provider().chat([{"role": "user", "content": "hi"}])

It needs the ``gateway`` extra (``pip install 'nxs_lab[gateway]'``: LiteLLM's proxy), binds 127.0.0.1 unless told
otherwise, and never starts without a master key: the one given, else ``LITELLM_MASTER_KEY``, else one generated
here (``generated_key`` says so; whoever started it must be shown it once). The configuration file is written
next to the proxy's log in a private temporary folder; keys stay in the environment it inherits.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import weakref
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from .._process import stop_process, wait_ready
from ..config import LabConfig
from ..errors import MissingDependency
from .export import ALIAS, MASTER_KEY_ENV, litellm_config, to_yaml

__all__ = ["LITELLM_ENV", "Gateway", "litellm_executable"]

STARTUP_TIMEOUT = 90.0  # it starts in about 10 s on two cores, 30 s beside a busy process


LITELLM_ENV = "NXS_LAB_LITELLM"


def litellm_executable() -> str:
    """The ``litellm`` command: the one ``NXS_LAB_LITELLM`` names (LiteLLM in an environment of its own), else the
    one installed beside this Python (the gateway extra), else on PATH."""
    named = os.environ.get(LITELLM_ENV)
    if named:
        if not os.access(named, os.X_OK):
            from ..errors import ConfigError

            raise ConfigError(LITELLM_ENV, [(named, "is not an executable file")])
        return named
    beside = Path(sys.executable).with_name("litellm")
    found = str(beside) if beside.exists() else shutil.which("litellm")
    if found is None:
        raise MissingDependency("litellm[proxy]", "gateway")
    return found


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Gateway:
    """A LiteLLM proxy serving ``config``'s providers (see :mod:`nxs_lab.gateway.export` for the mapping)."""

    def __init__(
        self,
        config: LabConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        master_key: str | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.exported = litellm_config(config)  # a bad config is refused here, before anything starts
        self.host, self.requested_port, self.startup_timeout = host, port, startup_timeout
        key = master_key or os.environ.get(MASTER_KEY_ENV)
        self.generated_key = key is None
        self.master_key = SecretStr(key or "sk-nxs-" + secrets.token_urlsafe(24))
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._log: Any = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        state = f"on {self.base_url}" if self.running else "stopped"
        return f"Gateway({len(self.exported['model_list'])} model entries, {state})"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def config_path(self) -> Path | None:
        return Path(self._tmp.name) / "litellm.yaml" if self._tmp else None

    def log_tail(self, lines: int = 40) -> str:
        path = Path(self._tmp.name) / "gateway.log" if self._tmp else None
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])

    def start(self) -> Gateway:
        exe = litellm_executable()
        self.port = self.requested_port or _free_port(self.host)
        self._tmp = tempfile.TemporaryDirectory(prefix="nxs-lab-gateway-")
        assert self.config_path is not None
        self.config_path.write_text(to_yaml(self.exported), encoding="utf-8")
        self._log = open(Path(self._tmp.name) / "gateway.log", "wb")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, **{MASTER_KEY_ENV: self.master_key.get_secret_value()})
        self._proc = subprocess.Popen(
            [exe, "--config", str(self.config_path), "--host", self.host, "--port", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self._finalizer = weakref.finalize(self, stop_process, self._proc)
        try:
            wait_ready(self._proc, self.base_url.removesuffix("/v1") + "/health/liveliness", {},
                       self.startup_timeout, "the LiteLLM gateway", self.log_tail)  # fmt: skip
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the proxy (SIGTERM, then SIGKILL after 5 s). Safe to call twice."""
        stop_process(self._proc)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        """Stop, and remove the folder holding the exported file and the log."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def provider(self, name: str = "gateway", **kw: Any) -> Any:
        """A :class:`~nxs_lab.Provider` for the gateway, asking the chain (``model="nxs"``) by default."""
        from ..client.provider import Provider

        kw.setdefault("model", ALIAS)
        return Provider(name=name, base_url=self.base_url, api_key=self.master_key.get_secret_value(), **kw)
