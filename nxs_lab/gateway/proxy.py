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
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from .._process import ChildServer
from ..config import LabConfig
from ..errors import MissingDependency
from .export import ALIAS, MASTER_KEY_ENV, litellm_config, to_yaml

if TYPE_CHECKING:
    from ..client.provider import Provider

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


class Gateway(ChildServer):
    """A LiteLLM proxy serving ``config``'s providers (see :mod:`nxs_lab.gateway.export` for the mapping)."""

    what = "the LiteLLM gateway"
    _log_name = "gateway.log"

    def __init__(
        self,
        config: LabConfig,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        master_key: str | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        super().__init__()
        self.exported = litellm_config(config)  # a bad config is refused here, before anything starts
        self.host, self.requested_port, self.startup_timeout = host, port, startup_timeout
        key = master_key or os.environ.get(MASTER_KEY_ENV)
        self.generated_key = key is None
        self.master_key = SecretStr(key or "sk-nxs-" + secrets.token_urlsafe(24))
        self.port: int | None = None

    def __repr__(self) -> str:
        state = f"on {self.base_url}" if self.running else "stopped"
        return f"Gateway({len(self.exported['model_list'])} model entries, {state})"

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def config_path(self) -> Path:
        return self.folder / "litellm.yaml"

    def start(self) -> Gateway:
        exe = litellm_executable()
        self.port = self.requested_port or _free_port(self.host)
        self.config_path.write_text(to_yaml(self.exported), encoding="utf-8")
        env = dict(os.environ, **{MASTER_KEY_ENV: self.master_key.get_secret_value()})
        self._spawn([exe, "--config", str(self.config_path), "--host", self.host, "--port", str(self.port)], env)
        self._ready_or_stopped(self.base_url.removesuffix("/v1") + "/health/liveliness", {}, self.startup_timeout)
        return self

    def provider(self, name: str = "gateway", **kw: Any) -> Provider:
        """A :class:`~nxs_lab.Provider` for the gateway, asking the chain (``model="nxs"``) by default."""
        from ..client.provider import Provider

        kw.setdefault("model", ALIAS)
        return Provider(name=name, base_url=self.base_url, api_key=self.master_key.get_secret_value(), **kw)
