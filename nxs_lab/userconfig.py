"""Where a user's settings come from, for the command line, the magics and the panels: one place, in this order.

1. a file named explicitly (``nxs-lab --config FILE``, ``Settings.find("FILE")``);
2. the file ``NXS_LAB_CONFIG`` names;
3. ``config.toml`` in the user's config folder (platformdirs: ``~/.config/nxs-lab`` on Linux,
   ``~/Library/Application Support/nxs-lab`` on macOS, ``%APPDATA%\\nxs-lab`` on Windows), when it exists.

``NXS_LAB__…`` variables override whichever file was read (see :mod:`nxs_lab.config`). When no provider is
configured at all, the variables users of other tools already set become providers, and each says where it came
from: ``OLLAMA_HOST`` (Ollama's own client's rules: ``host[:port]``, scheme http, its default port, a ``0.0.0.0`` bind
address reached on 127.0.0.1), ``OPENAI_BASE_URL`` with ``OPENAI_API_KEY`` (the key read from the variable, never
copied), and ``OPENAI_API_KEY`` alone for OpenAI itself, last.

    >>> s = Settings.find(environ={"OLLAMA_HOST": "0.0.0.0"}, default_file=None)
    >>> [(p.name, p.base_url) for p in s.config.providers], s.origins["ollama"]
    ([('ollama', 'http://127.0.0.1:11434/v1')], 'environment variable OLLAMA_HOST')
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .config import LabConfig, ProviderConfig, norm_name
from .defaults import SERVER_PORTS
from .errors import ConfigError

__all__ = [
    "CONFIG_ENV", "Settings", "default_config_path", "how_to_configure", "providers_from_environment", "request_log_path",
]  # fmt: skip

CONFIG_ENV = "NXS_LAB_CONFIG"
_OPENAI = "https://api.openai.com/v1"


def default_config_path() -> Path:
    """``config.toml`` in the user's config folder (it may not exist)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("nxs-lab", appauthor=False)) / "config.toml"


@dataclass
class Settings:
    """The configuration in force, the file it came from (``None``: none), and where each provider came from."""

    config: LabConfig
    path: Path | None
    origins: dict[str, str] = field(default_factory=dict)  # provider name -> "config file …" / "environment …"
    # Set when the providers were found rather than configured (discovery.which): what answers, and how to pin it.
    note: str | None = None

    @classmethod
    def find(
        cls,
        explicit: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        default_file: Path | bool | None = True,
    ) -> Settings:
        """The settings in force (see the module's docstring for the order). ``default_file``: ``True`` for the
        user's config folder, a path for another, ``None`` for none. A file named explicitly or by
        ``NXS_LAB_CONFIG`` must exist; the default one may not."""
        env = os.environ if environ is None else environ
        path: Path | None = None
        if explicit is not None:
            path = Path(explicit).expanduser()
        elif env.get(CONFIG_ENV):
            path = Path(env[CONFIG_ENV]).expanduser()
            if not path.is_file():
                raise ConfigError(CONFIG_ENV, [("", f"names {path}, which is not a file")])
        else:
            default = default_config_path() if default_file is True else default_file
            path = default if isinstance(default, Path) and default.is_file() else None
        config = LabConfig.load(path, environ=env)
        origins = {
            p.name: f"config file {path}" if path else "environment variable NXS_LAB__…" for p in config.providers
        }
        if not config.providers:
            found = providers_from_environment(env)
            config = config.model_copy(update={"providers": [p for p, _ in found]})
            origins = {p.name: why for p, why in found}
        return cls(config, path, origins)

    def chosen(self, names: Iterable[str] | None = None, where: str = "providers") -> LabConfig:
        """The settings with only the providers ``names`` (matched as provider names are: case and ``-``/``_``
        alike), or all of them for ``None``. Raises :class:`ConfigError` naming each unknown name, and when no
        provider is left, with what to do about it."""
        cfg = self.config
        chosen = cfg.providers
        if names is not None:
            wanted = {norm_name(n): n for n in names}
            have = {norm_name(p.name) for p in cfg.providers}
            unknown = sorted(n for k, n in wanted.items() if k not in have)
            if unknown:
                known = ", ".join(p.name for p in cfg.by_priority()) or "(none)"
                raise ConfigError(where, [(", ".join(unknown), f"not configured; configured: {known}")])
            chosen = [p for p in cfg.providers if norm_name(p.name) in wanted]
        if not chosen:
            raise ConfigError(where, [("providers", f"none is configured: {how_to_configure()}")])
        return cfg.model_copy(update={"providers": chosen})


def how_to_configure() -> str:
    """What to do when no provider is configured (said by the command line, the magics and jupyter-ai)."""
    return (
        f"write {default_config_path()} (or name a file with --config or {CONFIG_ENV}), or set OLLAMA_HOST or "
        "OPENAI_BASE_URL; see the README's 'Pointing it at your own servers'"
    )


def _ollama_url(value: str) -> str:
    """``OLLAMA_HOST`` as Ollama's client reads it: ``[scheme://]host[:port]``, http and Ollama's port by default; a bind
    address meaning every interface (0.0.0.0, ::) is reached on the loopback."""
    text = value.strip()
    parts = urlsplit(text if "://" in text else f"http://{text}")
    host = parts.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port or SERVER_PORTS["ollama"][0]
    except ValueError:
        raise ConfigError("OLLAMA_HOST", [("", f"{value!r} has no valid port")]) from None
    return f"{parts.scheme}://{host}:{port}/v1"


def providers_from_environment(env: Mapping[str, str]) -> list[tuple[ProviderConfig, str]]:
    """Providers from the variables other tools use, local ones first."""
    found: list[tuple[ProviderConfig, str]] = []
    if env.get("OLLAMA_HOST"):
        url = _ollama_url(env["OLLAMA_HOST"])
        found.append(
            (ProviderConfig.checked(name="ollama", base_url=url, priority=10), "environment variable OLLAMA_HOST")
        )
    key = "OPENAI_API_KEY" if env.get("OPENAI_API_KEY") else None
    if env.get("OPENAI_BASE_URL"):
        cfg = ProviderConfig.checked(
            name="openai-compatible", base_url=env["OPENAI_BASE_URL"], api_key_env=key, priority=50
        )
        said = "environment variables OPENAI_BASE_URL" + (" and OPENAI_API_KEY" if key else "")
        found.append((cfg, said))
    elif key:
        found.append(
            (
                ProviderConfig(name="openai", base_url=_OPENAI, api_key_env=key, priority=90),
                "environment variable OPENAI_API_KEY",
            )
        )
    return found


def request_log_path(config: LabConfig | None = None) -> str:
    """Where the command line and the panels keep their request log: ``requests.jsonl`` in the runs folder when
    one is set (``runs_dir`` in the settings, or ``NXS_LAB__RUNS_DIR``), else in the user's data folder
    (platformdirs: ``~/.local/share/nxs-lab`` on Linux), never in the working folder (a notebook's working
    folder may be the installed package's)."""
    if config is None:
        config = LabConfig.load(None)
    if "runs_dir" in config.model_fields_set:
        return os.path.join(config.runs_dir, "requests.jsonl")
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("nxs-lab", appauthor=False), "requests.jsonl")
