"""Typed settings: providers, their timeouts and limits, read from TOML and the environment.

A file looks like this::

    runs_dir = "runs"

    [breaker]                            # every provider's circuit breaker in a chain made from this file
    threshold = 3                        # consecutive failures that open it (one refused connection always does)
    cooldown = 5.0                       # seconds it stays open before one probe is let through
    max_cooldown = 60.0                  # each failed probe doubles the cooldown, up to this

    [[providers]]
    name = "lmstudio"
    base_url = "http://127.0.0.1:1234/v1"
    priority = 1

    [[providers]]
    name = "kimi"
    base_url = "https://api.moonshot.ai/v1"
    api_key_env = "MOONSHOT_API_KEY"     # the key itself stays in the environment
    model = "kimi-k2-0905-preview"
    priority = 3
    [providers.timeouts]
    connect = 3.0

Environment variables override the file: ``NXS_LAB__RUNS_DIR`` sets a top-level
key, ``NXS_LAB__BREAKER__COOLDOWN`` a key of the ``[breaker]`` table, ``NXS_LAB__<PROVIDER>__<KEY>`` a
provider's key (provider names match case-insensitively, ``-`` written as ``_``),
``NXS_LAB__<PROVIDER>__TIMEOUTS__CONNECT`` a nested one. A variable naming a provider the file lacks adds that provider.

Loading is all or nothing: a bad file raises one :class:`~nxs_lab.errors.ConfigError`
that names the file (or variable), each bad key, and what was expected.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from ._net import Scope, url_scope
from .defaults import MAX_RESPONSE_BYTES
from .errors import ConfigError

__all__ = ["ENV_PREFIX", "BreakerSettings", "LabConfig", "ProviderConfig", "Timeouts", "default_timeouts"]

ENV_PREFIX = "NXS_LAB__"


class Timeouts(BaseModel):
    """Seconds to wait.

    ``connect``: for the TCP (and TLS) connection. ``first_byte``: from sending
    the request to the first byte of the reply (for streams, to the first chunk).
    ``idle``: between two stream chunks. ``total``: for a whole non-streamed
    reply, armed before the request is sent, so a server that drips bytes (headers included) cannot hold a
    call forever (``None``: no limit). ``stream_total``: the same for a whole stream, opt-in (``None``: a stream
    may run as long as its chunks keep coming within ``idle``); ``collect()`` and a chain's stream honour it.
    Both measure the server: time a request waits for a free connection in the kit's own pool is not counted
    (that wait has its own bound, ``defaults.POOL_WAIT``, and ends in ``ClientBusy``, never held against a breaker).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Finite: an infinite timeout is no timeout (None says that where it is allowed), and sockets refuse it.
    connect: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    first_byte: float = Field(default=120.0, gt=0, allow_inf_nan=False)
    idle: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    total: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    stream_total: float | None = Field(default=None, gt=0, allow_inf_nan=False)


_SCOPE_TIMEOUTS = {
    # A loopback server that does not accept within half a second is not there.
    Scope.LOOPBACK: Timeouts(connect=0.5, first_byte=120.0, idle=60.0),
    Scope.PRIVATE: Timeouts(connect=2.0, first_byte=120.0, idle=60.0),
    Scope.PUBLIC: Timeouts(connect=10.0, first_byte=120.0, idle=60.0),
}


def default_timeouts(base_url: str) -> Timeouts:
    """Short connect timeouts for loopback and LAN, longer for the internet."""
    return _SCOPE_TIMEOUTS[url_scope(base_url)]


class BreakerSettings(BaseModel):
    """How every provider's :class:`~nxs_lab.resilience.breaker.CircuitBreaker` behaves in a chain made from the
    settings: ``threshold`` consecutive failures open it (a refused connection opens it at once), it stays open
    ``cooldown`` seconds, then lets one probe through; a failed probe doubles the cooldown, up to ``max_cooldown``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: int = Field(default=3, ge=1)
    cooldown: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    max_cooldown: float = Field(default=60.0, gt=0, allow_inf_nan=False)  # unset: 60 s, or cooldown if longer

    @model_validator(mode="before")
    @classmethod
    def _max_follows_a_long_cooldown(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_cooldown" not in data and isinstance(data.get("cooldown"), (int, float)):
            data = {**data, "max_cooldown": max(60.0, data["cooldown"])}
        return data

    @model_validator(mode="after")
    def _max_at_least_cooldown(self) -> BreakerSettings:
        if self.max_cooldown < self.cooldown:
            raise ValueError(f"max_cooldown ({self.max_cooldown}) is shorter than cooldown ({self.cooldown})")
        return self


class ProviderConfig(BaseModel):
    """One OpenAI-compatible endpoint as configured by the user."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    base_url: str
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    model: str | None = None  # None: detect the first loaded chat model
    priority: int = 100  # lower answers first in a fallback chain
    context_window: int | None = Field(default=None, gt=0)
    # Ollama only: the window to run the model with, asked for on every call through Ollama's native chat
    # (options.num_ctx; its /v1 endpoints cannot) and budgeted against. Other servers set theirs when they start.
    num_ctx: int | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    reserve: int = Field(default=0, ge=0)
    # A reply larger than this is refused (ResponseTooLarge) before it fills memory; a chain fails over.
    max_response_bytes: int = Field(default=MAX_RESPONSE_BYTES, gt=0)
    timeouts: Timeouts | None = None  # None: defaults chosen by how far away the host is
    allowed_models: tuple[str, ...] | None = None  # None: any model
    # "user:password" for HTTP basic auth. Credentials written into base_url (https://user:pw@host/v1) are
    # taken out of it here and kept only as this secret, so no URL the kit shows or logs can carry them.
    basic_auth: SecretStr | None = None
    # The proxy its requests go through: a URL (kept secret: it may carry credentials), false for none, or unset
    # for the environment's (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY) for public hosts; never for loopback.
    proxy: SecretStr | Literal[False] | None = None
    # This provider's own circuit breaker ([providers.breaker]): what it sets, over the shared [breaker] table.
    breaker: BreakerSettings | None = None
    # Rate limits as LiteLLM names them: requests and model tokens a minute. The chain keeps to them (waiting up to
    # rate_wait seconds for a slot, else moving on, said in the result and the log); the LiteLLM export writes
    # them, so a gateway enforces them for every client.
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    rate_wait: float | None = Field(default=None, ge=0, le=3600, allow_inf_nan=False)
    # This provider's use of the response cache: off, deterministic or always (unset: the [cache] table's).
    cache: Literal["off", "deterministic", "always"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _credentials_out_of_url(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("base_url"), str):
            return data
        parts = urlsplit(data["base_url"])
        if parts.username is None and parts.password is None:
            return data
        if data.get("basic_auth") is not None:
            raise ValueError("credentials are given both in base_url and as basic_auth: give them once")
        data = dict(data)
        data["basic_auth"] = SecretStr(f"{unquote(parts.username or '')}:{unquote(parts.password or '')}")
        netloc = parts.netloc.rsplit("@", 1)[1]
        data["base_url"] = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        return data

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        parts = urlsplit(v)
        try:
            port_ok = parts.port is None or 0 < parts.port < 65536
        except ValueError:
            port_ok = False
        if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
            raise ValueError("expected an http:// or https:// URL with a host (and a valid port)")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _one_key_source(self) -> ProviderConfig:
        if self.api_key is not None and self.api_key_env is not None:
            raise ValueError("give api_key or api_key_env, not both")
        if self.basic_auth is not None and (self.api_key is not None or self.api_key_env is not None):
            raise ValueError(
                "both an API key and basic-auth credentials (in base_url) would be sent as the "
                "Authorization header: give one of them"
            )
        return self

    @classmethod
    def checked(cls, **fields: Any) -> ProviderConfig:
        """Validate keyword settings (as ``Provider(...)`` gets them) with the same errors a file gets:
        one :class:`ConfigError` naming each bad field, never echoing a secret."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            source = f"provider {fields.get('name')!r}"
            raise ConfigError(source, _problems(exc, {"providers": [fields]}, {})) from None

    def resolved_api_key(self) -> SecretStr | None:
        """The key itself: ``api_key``, or the value of the variable ``api_key_env`` names."""
        if self.api_key is not None:
            return self.api_key
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if value is None:
                raise ConfigError(
                    f"provider {self.name!r}",
                    [("api_key_env", f"environment variable {self.api_key_env} is not set")],
                )
            return SecretStr(value)
        return None

    def resolved_timeouts(self) -> Timeouts:
        return self.timeouts if self.timeouts is not None else default_timeouts(self.base_url)


# Top-level tables: NXS_LAB__<TABLE>__<KEY> sets one of their keys (so no provider can be named like them).
_TABLES = ("breaker", "cache", "log")
# The word that picks every configured provider in priority order (``%%chat chain``, ``%%ai nxs:chain``), so no
# provider may be named so; in code the chain is picked by the sentinel ``nxs_lab.resilience.targets.CHAIN``.
CHAIN_NAME = "chain"


CacheMode = Literal["off", "deterministic", "always"]


class CacheSettings(BaseModel):
    """The ``[cache]`` table: the response cache every provider of a chain made from the settings uses
    (``requests``: ``off``, ``deterministic`` (temperature 0 or a seed) or ``always``; a provider's own ``cache``
    says otherwise for it), where it is kept (``path``; default: the user's cache folder) and its limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: CacheMode = "off"
    path: str | None = None
    max_age_days: float = Field(default=14.0, gt=0, allow_inf_nan=False)
    max_entries: int = Field(default=100_000, ge=1)


class LogSettings(BaseModel):
    """The ``[log]`` table: ``content = true`` keeps each call's question and answer in the request log (keys and
    secrets redacted), so ``nxs-lab logs --search`` can find a conversation; off by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content: bool = False


class LabConfig(BaseModel):
    """All of the kit's settings. Build it in code or with :meth:`load`."""

    model_config = ConfigDict(extra="forbid")

    providers: list[ProviderConfig] = Field(default_factory=list)
    runs_dir: str = "runs"
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    def breaker_for(self, name: str) -> BreakerSettings:
        """The breaker settings of provider ``name``: the shared ``[breaker]`` table, with what its own
        ``[providers.breaker]`` sets over it."""
        own = next((p.breaker for p in self.providers if p.name == name and p.breaker is not None), None)
        if own is None:
            return self.breaker
        shared = self.breaker.model_dump()
        if "cooldown" in own.model_fields_set and "max_cooldown" not in own.model_fields_set:
            shared.pop("max_cooldown")  # follows its own cooldown, as the shared table's does
        return BreakerSettings.model_validate({**shared, **own.model_dump(include=own.model_fields_set)})

    @model_validator(mode="after")
    def _unique_names(self) -> LabConfig:
        seen: set[str] = set()
        for p in self.providers:
            key = norm_name(p.name)
            if key in _TABLES:
                raise ValueError(f"provider name {p.name!r} is taken by the [{key}] table: choose another")
            if key == CHAIN_NAME:
                raise ValueError(f"provider name {p.name!r} is reserved for the whole fallback chain: choose another")
            if key in seen:
                raise ValueError(f"provider name {p.name!r} is used twice")
            seen.add(key)
        return self

    def provider(self, name: str) -> ProviderConfig:
        for p in self.providers:
            if norm_name(p.name) == norm_name(name):
                return p
        raise KeyError(
            f"no provider named {name!r}; configured: {', '.join(p.name for p in self.providers) or '(none)'}"
        )

    def by_priority(self) -> list[ProviderConfig]:
        return sorted(self.providers, key=lambda p: p.priority)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None) -> LabConfig:
        """Read ``path`` (TOML; ``None`` for no file), apply environment overrides, validate.

        Raises :class:`ConfigError` naming the file or variable, each bad key and what was expected.
        """
        env = os.environ if environ is None else environ
        source = str(path) if path is not None else "(no file)"
        data: dict[str, Any] = {}
        if path is not None:
            p = Path(path)
            try:
                raw = p.read_bytes()
            except FileNotFoundError:
                raise ConfigError(source, [("", "file not found")]) from None
            except OSError as exc:
                raise ConfigError(source, [("", f"cannot read: {exc.strerror}")]) from None
            try:
                data = tomllib.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise ConfigError(source, [("", f"not UTF-8 text (byte {exc.start})")]) from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(source, [("", f"not valid TOML: {exc}")]) from None
        origins = _apply_env(data, env, source)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(source, _problems(exc, data, origins)) from None


def norm_name(name: str) -> str:
    """A provider's name as names are matched: case and ``-``/``_`` alike."""
    return name.strip().lower().replace("-", "_")


def _coerce(text: str) -> Any:
    """Environment values are strings; read TOML scalars and arrays the way the file would."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_env(data: dict[str, Any], env: Mapping[str, str], source: str) -> dict[str, str]:
    """Merge ``NXS_LAB__…`` variables into ``data``; return {dotted key: variable name} for error messages."""
    origins: dict[str, str] = {}
    providers = data.setdefault("providers", [])
    if not isinstance(providers, list):
        raise ConfigError(source, [("providers", "expected an array of tables ([[providers]])")])
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in var[len(ENV_PREFIX) :].split("__") if p]
        value = env[var]
        if not parts:
            raise ConfigError(
                var, [("", f"names no setting: write {ENV_PREFIX}<KEY> or {ENV_PREFIX}<PROVIDER>__<KEY>")]
            )
        if parts == ["providers"]:
            raise ConfigError(
                var, [("", f"providers come from the file; set one provider's key with {ENV_PREFIX}<PROVIDER>__<KEY>")]
            )
        if len(parts) == 1:
            data[parts[0]] = _coerce(value)
            origins[parts[0]] = var
            continue
        if parts[0] in _TABLES:
            table = data.setdefault(parts[0], {})
            if not isinstance(table, dict):
                raise ConfigError(var, [(parts[0], "is a value in the file, not a table, so it has no keys")])
            _set_nested(table, parts[1:], _coerce(value), var)
            origins[".".join(parts)] = var
            continue
        pname, keys = parts[0], parts[1:]
        index = next(
            (i for i, p in enumerate(providers) if isinstance(p, dict) and norm_name(str(p.get("name", ""))) == pname),
            None,
        )
        if index is None:
            providers.append({"name": pname})
            index = len(providers) - 1
        # Keys and URLs stay strings even when they look like numbers.
        as_text = keys[-1] in ("api_key", "basic_auth", "base_url", "name", "model", "api_key_env")
        _set_nested(providers[index], keys, value if as_text else _coerce(value), var)
        origins["providers." + str(index) + "." + ".".join(keys)] = var
    return origins


def _set_nested(target: dict[str, Any], keys: list[str], value: Any, var: str) -> None:
    for depth, k in enumerate(keys[:-1]):
        target = target.setdefault(k, {})
        if not isinstance(target, dict):
            where = ".".join(keys[: depth + 1])
            raise ConfigError(var, [(where, f"is a value, not a table, so it has no key {keys[depth + 1]!r}")])
    target[keys[-1]] = value


def _secrets_in(data: dict[str, Any]) -> list[str]:
    provs = data.get("providers")
    if not isinstance(provs, list):
        return []
    out = []
    for p in provs:
        if not isinstance(p, dict):
            continue
        for key in ("api_key", "basic_auth"):
            value = p.get(key)
            if value:
                out.append(value.get_secret_value() if isinstance(value, SecretStr) else str(value))
        url = urlsplit(str(p.get("base_url", "")))
        out += [unquote(x) for x in (url.username, url.password) if x]
    return out


def _problems(exc: ValidationError, data: dict[str, Any], origins: dict[str, str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    secrets = _secrets_in(data)
    for err in exc.errors(include_url=False):
        loc = [str(x) for x in err["loc"]]
        dotted = ".".join(loc)
        key = _pretty_loc(loc, data)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        elif _showable(err, loc) and not any(sec in str(err["input"]) for sec in secrets):
            msg += f" (got {err['input']!r})"
        var = origins.get(dotted)
        if var:
            msg += f" [from environment variable {var}]"
        out.append((key, msg))
    return out


def _showable(err: Any, loc: list[str]) -> bool:
    """Echo the bad value only when it is a scalar and not a secret (a dict could hold a key)."""
    value = err.get("input")
    return err["type"] != "missing" and isinstance(value, (str, int, float, bool)) and "api_key" not in loc


def _pretty_loc(loc: list[str], data: dict[str, Any]) -> str:
    """``providers.1.timeouts.connect`` → ``providers[1] ('kimi').timeouts.connect``."""
    if len(loc) >= 2 and loc[0] == "providers" and loc[1].isdigit():
        i = int(loc[1])
        name = ""
        provs = data.get("providers")
        if isinstance(provs, list) and i < len(provs) and isinstance(provs[i], dict) and "name" in provs[i]:
            name = f" ({provs[i]['name']!r})"
        return f"providers[{i}]{name}" + "".join("." + x for x in loc[2:])
    return ".".join(loc)
