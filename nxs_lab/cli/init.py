"""``nxs-lab init``: write the settings file from what answers now (the servers on this machine's usual ports, and
``OLLAMA_HOST`` / ``OPENAI_BASE_URL``), so the choice is pinned; refuses to overwrite a file unless ``--force``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError, NoServer
from ._common import EXIT_OK

__all__ = ["add", "init", "settings_text"]


def _value(v: Any) -> str:
    return json.dumps(v)  # a TOML basic string or integer is written as JSON writes it


def settings_text(providers: list[Any], origins: dict[str, str]) -> str:
    """The TOML of ``providers`` (``ProviderConfig``), each with a comment saying where it was found."""
    out = ["# Written by `nxs-lab init`: the servers that answered then. Edit freely; see the README.", ""]
    for p in providers:
        out.append(f"# {origins.get(p.name, '')}")
        out.append("[[providers]]")
        fields = {"name": p.name, "base_url": p.base_url, "model": p.model, "api_key_env": p.api_key_env,
                  "priority": p.priority}  # fmt: skip
        out += [f"{k} = {_value(v)}" for k, v in fields.items() if v is not None]
        out.append("")
    return "\n".join(out)


def _found() -> tuple[list[Any], dict[str, str]]:
    """What answers now: the providers the environment's variables name, then the servers the scan finds."""
    from ..config import LabConfig
    from ..discovery.which import resolved
    from ..userconfig import Settings, providers_from_environment

    found = providers_from_environment(os.environ)
    try:
        scanned = resolved(Settings(LabConfig(), None), environ={"NXS_LAB_AUTO": "scan"})
    except NoServer:
        scanned = None
    urls = {p.base_url for p, _ in found}
    for p in scanned.config.providers if scanned else []:
        if p.base_url not in urls:
            found.append((p, scanned.origins[p.name] if scanned else ""))
    return [p for p, _ in found], {p.name: why for p, why in found}


def init(args: argparse.Namespace) -> int:
    import tomllib

    from ..config import LabConfig
    from ..userconfig import default_config_path

    path = Path(args.path or args.config or default_config_path()).expanduser()
    if path.exists() and not args.force:
        raise ConfigError(str(path), [("", "exists; give --force to replace it, or --path for another file")])
    providers, origins = _found()
    if not providers:
        raise NoServer(
            "no OLLAMA_HOST or OPENAI_BASE_URL, and nothing answered on this machine's usual ports",
            "start a server (LM Studio, `ollama serve`, llama-server), then run `nxs-lab init` again",
        )
    text = settings_text(providers, origins)
    LabConfig.model_validate(tomllib.loads(text))  # what is written reads back
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}: " + ", ".join(f"{p.name} ({p.base_url})" for p in providers))
    return EXIT_OK


def add(sub: Any) -> None:
    i = sub.add_parser("init", help="write the settings file from the servers that answer now")
    i.add_argument("--path", help="where to write it (default: --config, else config.toml in your config folder)")
    i.add_argument("--force", action="store_true", help="replace an existing file")
    i.set_defaults(func=init)
