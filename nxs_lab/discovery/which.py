"""Which server answers when the user has not said: one resolution for the command line, the magics, jupyter-ai and
the panels, so a newcomer with a server already up gets an answer on the first try.

In this order, the first that gives a provider wins:

1. the settings in force (:mod:`nxs_lab.userconfig`: the settings file, ``NXS_LAB__…``, then the variables users
   of other tools already set, ``OLLAMA_HOST`` and ``OPENAI_BASE_URL``);
2. a :class:`~nxs_lab.LocalServer` this process started (``nx.LocalServer().start()`` in the notebook): the user
   made it here, so it is what they mean, even beside a server found on the machine;
3. a fingerprinted scan of this machine's usual ports (LM Studio 1234, Ollama 11434, llama.cpp 8080 and 9931,
   vLLM and llama-cpp-python 8000, LiteLLM 4000), once per process: each server that serves a chat model without
   a key becomes a provider, in that order;
4. the embedded server where it is installed (``nxs_lab[server]``), started on demand, kept for the process's life.

Whatever was chosen is said once (:attr:`Settings.note`: what, where it came from, and how to pin it with
``nxs-lab init``). When nothing answers, one :class:`~nxs_lab.errors.NoServer` says in two lines what was tried
and what to do. ``NXS_LAB_AUTO`` turns steps 2–4 off (``0``) or names those to take (``kernel,scan,embedded``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..config import ProviderConfig, norm_name
from ..defaults import DEFAULT_PORTS
from ..errors import ConfigError, MissingDependency, ModelNotFound, NoServer
from ..models import ModelKind
from ..userconfig import Settings, default_config_path

__all__ = ["AUTO_ENV", "AUTO_STEPS", "forget", "resolved", "scan_once"]

AUTO_ENV = "NXS_LAB_AUTO"
AUTO_STEPS = ("kernel", "scan", "embedded")
SCAN_TIMEOUT = 0.3  # seconds per connect on the loopback: a server that is up accepts within milliseconds

_lock = threading.Lock()
_scanned: dict[tuple[int, ...], list[Any]] = {}  # the endpoints the one scan of this process found (by ports)
_embedded: Any = None  # the embedded server started on demand


def _steps(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get(AUTO_ENV)
    if raw is None:
        return AUTO_STEPS
    words = [w.strip().lower() for w in raw.split(",") if w.strip()]
    if words in ([], ["0"], ["off"], ["none"], ["false"], ["no"]):
        return ()
    unknown = [w for w in words if w not in AUTO_STEPS]
    if unknown:
        raise ConfigError(AUTO_ENV, [(", ".join(unknown), f"not a step; give 0 or some of {', '.join(AUTO_STEPS)}")])
    return tuple(words)


def scan_once(ports: Sequence[int] = DEFAULT_PORTS) -> list[Any]:
    """The servers on this machine's ``ports`` (default: the usual ones), fingerprinted; scanned once per process."""
    key = tuple(ports)
    with _lock:
        if key not in _scanned:
            from .scan import discover

            _scanned[key] = list(discover(["127.0.0.1"], list(key), timeout=SCAN_TIMEOUT, progress=False))
        return _scanned[key]


def forget() -> None:
    """Forget the scan and stop the embedded server started on demand (the next resolution looks again)."""
    global _embedded
    with _lock:
        _scanned.clear()
        if _embedded is not None:
            _embedded.cleanup()
        _embedded = None


def _chat_model(endpoint: Any) -> str | None:
    """The model a provider of this endpoint would pick itself (``pick_model``), or ``None`` when it serves none."""
    from ..client.catalog import pick_model

    try:
        return pick_model(list(endpoint.models), ModelKind.CHAT, ProviderConfig(name="found", base_url=endpoint.url))
    except ModelNotFound:
        return None


def _from_scan(ports: Sequence[int]) -> list[tuple[ProviderConfig, str]]:
    found: list[tuple[ProviderConfig, str]] = []
    for i, e in enumerate(scan_once(ports)):
        model = _chat_model(e)
        if e.auth_required or e.error or model is None:
            continue
        taken = {norm_name(p.name) for p, _ in found}
        name = norm_name(e.kind) if norm_name(e.kind) not in taken else norm_name(f"{e.kind}-{e.port}")
        cfg = ProviderConfig.checked(name=name, base_url=e.url, model=model, priority=10 + i)
        found.append((cfg, f"found on this machine ({e.label} on port {e.port})"))
    return found


def _from_kernel() -> list[tuple[ProviderConfig, str]]:
    from ..local.server import LocalServer

    found = []
    for i, srv in enumerate(LocalServer.running_here()):
        key = srv.api_key.get_secret_value() if srv.api_key else None
        name = "local" if i == 0 else f"local-{i + 1}"
        cfg = ProviderConfig.checked(name=name, base_url=srv.base_url, model=srv.chat_alias, api_key=key, priority=i)
        found.append((cfg, f"the LocalServer running in this process (pid {srv.pid})"))
    return found


def _embedded_installed() -> str | None:
    """Why the embedded server cannot start here, or ``None`` when it can."""
    import importlib.util

    from ..local.bundled import bundled_model_path

    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed"
    try:
        bundled_model_path()
    except MissingDependency as exc:
        return str(exc)
    return None


def _from_embedded() -> list[tuple[ProviderConfig, str]]:
    global _embedded
    with _lock:
        if _embedded is None or not _embedded.running:
            from ..local.server import LocalServer

            _embedded = LocalServer().start()
        srv = _embedded
    cfg = ProviderConfig.checked(name="embedded", base_url=srv.base_url, model=srv.chat_alias)
    return [(cfg, "the embedded server, started now (SmolLM2-135M: a demonstration model, not a capable one)")]


def _note(found: list[tuple[ProviderConfig, str]]) -> str:
    first, why = found[0]
    more = f" (and {len(found) - 1} more in the chain)" if len(found) > 1 else ""
    return (
        f"using {first.name} at {first.base_url}, model {first.model}: {why}{more}. "
        f"To pin it: nxs-lab init (writes {default_config_path()})"
    )


def _nothing(steps: tuple[str, ...], ports: Sequence[int]) -> NoServer:
    tried = [f"no settings file ({default_config_path()}), no OLLAMA_HOST or OPENAI_BASE_URL"]
    if "scan" in steps:
        keyed = [f"{e.label} on {e.port}" for e in scan_once(ports) if e.auth_required]
        listed = ", ".join(str(p) for p in ports)
        tried.append(f"no LLM server answered on 127.0.0.1 ports {listed}" + (f" without a key ({', '.join(keyed)})"
                                                                               if keyed else ""))  # fmt: skip
    if "embedded" in steps:
        why = _embedded_installed()
        tried.append(f"the embedded server cannot start ({why}: pip install 'nxs_lab[server]')")
    what = (
        "start a server (LM Studio, `ollama serve`, llama-server) or `nxs-lab serve`, then try again or run "
        "`nxs-lab init`; or set OPENAI_BASE_URL"
    )
    return NoServer("; ".join(tried), what)


def resolved(
    settings: Settings, *, environ: Mapping[str, str] | None = None, ports: Sequence[int] = DEFAULT_PORTS
) -> Settings:
    """``settings`` with providers: its own when it has any, else the first of the steps in the module's
    docstring that finds one (said in :attr:`Settings.note`; ``ports``: those the scan tries). Raises
    :class:`NoServer` when none does."""
    if settings.config.providers:
        return settings
    steps = _steps(os.environ if environ is None else environ)
    found: list[tuple[ProviderConfig, str]] = []
    if "kernel" in steps:
        found = _from_kernel()
    if not found and "scan" in steps:
        found = _from_scan(ports)
    if not found and "embedded" in steps and _embedded_installed() is None:
        found = _from_embedded()
    if not found:
        raise _nothing(steps, ports)
    config = settings.config.model_copy(update={"providers": [p for p, _ in found]})
    return replace(settings, config=config, origins={p.name: why for p, why in found}, note=_note(found))
