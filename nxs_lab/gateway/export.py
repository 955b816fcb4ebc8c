"""A LabConfig as a LiteLLM proxy configuration: for many clients (editors, agents, several users) at one
OpenAI-compatible URL, on an engine built for it, with the kit's providers, order and limits.

    >>> cfg = LabConfig(providers=[ProviderConfig(name="lab", base_url="http://127.0.0.1:1234/v1", model="m")])
    >>> print(to_yaml(litellm_config(cfg)).splitlines()[1])
      - model_name: "lab"

What maps to what (``tests/test_gateway.py`` checks each row by value):

=======================================  =============================================================================
the kit                                  LiteLLM
=======================================  =============================================================================
each provider                            a ``model_list`` entry named after it: ``openai/<model>`` at ``api_base``
its ``allowed_models``                   one more entry per allowed model, ``<provider>/<model>``
``api_key_env = "X"``                    ``api_key: os.environ/X`` (the key stays in the environment)
no key                                   ``api_key: none`` (the OpenAI client needs a value)
``context_window``                       ``model_info.max_input_tokens``; ``enable_pre_call_checks`` so a prompt too long
                                         for one provider goes to the next instead of failing there
``max_tokens``                           ``litellm_params.max_tokens``
``rpm``, ``tpm``                         ``litellm_params.rpm``, ``litellm_params.tpm``, and ``enable_pre_call_checks``:
                                         the gateway's router keeps the deployment to them for every client
``timeouts.total`` (else ``first_byte``)  ``litellm_params.timeout``
``timeouts.first_byte``                  ``litellm_params.stream_timeout``
the priority order                       ``router_settings.fallbacks``: each provider falls back to every later one;
                                         ``model_group_alias``: ``nxs`` asks the first
the breakers (open on the first failure,  ``allowed_fails: 0``, ``cooldown_time``: a failed deployment is skipped for
skipped until the cooldown ends)         that long instead of being waited on at every call: ``[breaker] cooldown``
                                         when the settings give it, else 30 s (LiteLLM's cooldown does not double)
the kit's retry policy (fail over, do    ``num_retries: 0``
not retry the same provider)
the gateway's own key                    ``general_settings.master_key: os.environ/LITELLM_MASTER_KEY``
=======================================  =============================================================================

A literal ``api_key`` in the config is refused (a key written into a file is a key on disk): use ``api_key_env``.
A provider without a ``model`` needs one: LiteLLM routes by name (``model=`` here, or a single allowed model).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..config import LabConfig, ProviderConfig
from ..errors import ConfigError

__all__ = ["ALIAS", "MASTER_KEY_ENV", "litellm_config", "to_yaml"]

ALIAS = "nxs"  # the model name that asks the chain: the first provider, then its fallbacks
MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
COOLDOWN_S = 30.0  # how long a failed provider is skipped (the kit's breakers start at 5 s and double to 60 s)


def _model(p: ProviderConfig) -> str:
    if p.model:
        return p.model
    if p.allowed_models and len(p.allowed_models) == 1:
        return p.allowed_models[0]
    raise ConfigError(f"provider {p.name!r}", [("model", "LiteLLM routes by model name: set model for this provider")])


def _params(p: ProviderConfig, model: str) -> dict[str, Any]:
    if p.api_key is not None:
        why = "a key written into the exported file would be a key on disk: use api_key_env"
        raise ConfigError(f"provider {p.name!r}", [("api_key", why)])
    if p.basic_auth is not None:
        raise ConfigError(f"provider {p.name!r}", [("basic_auth", "LiteLLM sends bearer keys only")])
    t = p.resolved_timeouts()
    params: dict[str, Any] = {
        "model": f"openai/{model}",
        "api_base": p.base_url,
        "api_key": f"os.environ/{p.api_key_env}" if p.api_key_env else "none",
        "timeout": t.total if t.total is not None else t.first_byte,
        "stream_timeout": t.first_byte,
    }
    if p.max_tokens is not None:
        params["max_tokens"] = p.max_tokens
    if p.rpm is not None:  # LiteLLM's router keeps each deployment to these, for every client of the gateway
        params["rpm"] = p.rpm
    if p.tpm is not None:
        params["tpm"] = p.tpm
    return params


def _entries(p: ProviderConfig) -> list[dict[str, Any]]:
    model = _model(p)
    info = {"max_input_tokens": p.context_window} if p.context_window else {}
    entries = [{"model_name": p.name, "litellm_params": _params(p, model), "model_info": info}]
    for extra in p.allowed_models or ():
        if extra != model:
            entries.append({"model_name": f"{p.name}/{extra}", "litellm_params": _params(p, extra), "model_info": info})
    return entries


def litellm_config(cfg: LabConfig, *, cooldown_s: float | None = None) -> dict[str, Any]:
    """The LiteLLM proxy configuration for ``cfg`` (see the module's table). ``cooldown_s``: how long a failed
    provider is skipped; by default the ``[breaker]`` table's ``cooldown`` when the settings give one, else
    :data:`COOLDOWN_S`."""
    if cooldown_s is None:
        cooldown_s = cfg.breaker.cooldown if "breaker" in cfg.model_fields_set else COOLDOWN_S
    providers = cfg.by_priority()
    if not providers:
        raise ConfigError("export", [("providers", "none is configured: there is nothing to export")])
    names = [p.name for p in providers]
    if ALIAS in names:
        raise ConfigError("export", [(ALIAS, "is the chain's alias in the gateway: rename that provider")])
    model_list = [e for p in providers for e in _entries(p)]
    router: dict[str, Any] = {
        "num_retries": 0,
        "allowed_fails": 0,
        "cooldown_time": cooldown_s,
        # LiteLLM looks fallbacks up by the name asked for, so the alias needs its own entry
        "fallbacks": [{name: names[i + 1 :]} for i, name in enumerate(names[:-1])]
        + [{ALIAS: names[1:]}] * (len(names) > 1),
        "model_group_alias": {ALIAS: names[0]},
        # LiteLLM's router checks a deployment's window, and keeps it to its rpm/tpm, only with pre-call checks on
        "enable_pre_call_checks": any(p.context_window or p.rpm or p.tpm for p in providers),
    }
    return {
        "model_list": model_list,
        "router_settings": router,
        "litellm_settings": {"drop_params": True},
        "general_settings": {"master_key": f"os.environ/{MASTER_KEY_ENV}"},
    }


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a double-quoted YAML string: nothing is read as a number


def _key(key: Any) -> str:
    return str(key) if _PLAIN_KEY.match(str(key)) and str(key) not in ("true", "false", "null") else _scalar(key)


def _inline(value: Any) -> str:
    """A value on its key's line: a scalar, or an empty mapping or list."""
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for plain data (mappings, lists, scalars), strings always quoted; read back by any YAML
    loader as exactly ``value``."""
    pad = " " * indent
    nested = isinstance(value, (dict, list)) and bool(value)
    if isinstance(value, dict) and nested:
        return "".join(
            f"{pad}{_key(k)}:\n{to_yaml(v, indent + 2)}" if isinstance(v, (dict, list)) and v else
            f"{pad}{_key(k)}: {_inline(v)}\n"
            for k, v in value.items()
        )  # fmt: skip
    if isinstance(value, list) and nested:
        return "".join(
            f"{pad}- {to_yaml(item, indent + 2).lstrip()}" if isinstance(item, (dict, list)) and item else
            f"{pad}- {_inline(item)}\n"
            for item in value
        )  # fmt: skip
    return pad + _inline(value) + "\n"
