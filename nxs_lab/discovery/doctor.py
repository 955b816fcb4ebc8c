"""``nx.doctor()`` and ``nxs-lab doctor``: what is configured, what is up on this machine and which would answer,
and, before a model server is reached from another machine, the seed's checklist: does it listen beyond the
loopback, and answer there without a key; does any web page get to call it (CORS); is there a model allowlist, a
request log, a rate limit; which window each model on this machine can run with in its memory.

    >>> report = nx.doctor()          # doctest: +SKIP
    >>> report.needs_action, report.to_json()[0]["advice"]            # doctest: +SKIP

Each finding is ``ok``, ``info`` or ``act`` (something to do), with its advice (the same lines in the notebook's
table, the command's table and ``--json``). Where a server listens is read from this machine's own socket table
(psutil), never guessed from outside: an address of every interface (``0.0.0.0``, ``::``) or of a LAN is reachable
by other machines; a tailnet address (Tailscale) only from the user's own, which is the seed's recommended way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._html import rows_table
from .._net import Scope, address_scope, is_tailnet, url_scope
from ..defaults import DEFAULT_PORTS
from ..errors import ConfigError
from ..userconfig import Settings, request_log_path
from .endpoints import Endpoint
from .scan import discover
from .which import SCAN_TIMEOUT

__all__ = ["ACT", "INFO", "OK", "Doctor", "Finding", "doctor"]

OK, INFO, ACT = "ok", "info", "act"
# Windows a model is commonly run with; the advice is the largest of them that fits (the seed: 8K-32K on 4 GB).
WINDOWS = (2048, 4096, 8192, 16384, 32768, 65536, 131072)

FIREWALL = (
    "ufw (Ubuntu, Debian): sudo ufw deny {port}/tcp (or only your tailnet: sudo ufw allow in on tailscale0 to any "
    "port {port})",
    "firewalld (Fedora, RHEL): sudo firewall-cmd --permanent --remove-port={port}/tcp && sudo firewall-cmd --reload",
    'nftables: sudo nft add rule inet filter input tcp dport {port} iifname != "lo" drop',
    "macOS: System Settings > Network > Firewall > Options: block incoming connections for the server's app",
    'Windows (PowerShell, as administrator): New-NetFirewallRule -DisplayName "block {port}" -Direction Inbound '
    "-LocalPort {port} -Protocol TCP -Action Block",
)
BIND_LOCAL = {
    "ollama": "Ollama: set OLLAMA_HOST=127.0.0.1:11434 (0.0.0.0 makes it listen on every interface) and restart it",
    "lmstudio": "LM Studio: Developer > Server Settings: turn off 'Serve on Local Network'",
    "llama.cpp": "llama-server: start it with --host 127.0.0.1 (its default)",
    "vllm": "vLLM: start it with --host 127.0.0.1 (vllm serve listens on every interface by default)",
    "llama-cpp-python": "llama-cpp-python: python -m llama_cpp.server --host 127.0.0.1",
}
TAILSCALE = (
    "reach it from your other machines over Tailscale instead: keep it on 127.0.0.1 and run "
    "`tailscale serve --bg {port}` here (https://<this machine>.<tailnet>.ts.net), or bind only its 100.x address"
)
KEY = "or require a key: LM Studio 0.4 Developer > Require API key; llama-server --api-key; vllm --api-key"


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report: what was checked, about what, how it stands, and what to do."""

    check: str
    subject: str
    status: str  # ok | info | act
    detail: str
    advice: tuple[str, ...] = ()

    def as_row(self) -> dict[str, Any]:
        return {"check": self.check, "subject": self.subject, "status": self.status, "detail": self.detail,
                "advice": list(self.advice)}  # fmt: skip


@dataclass
class Doctor:
    """Every finding; ``needs_action`` when one of them says to act (``nxs-lab doctor`` then exits 1)."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def needs_action(self) -> bool:
        return any(f.status == ACT for f in self.findings)

    def to_json(self) -> list[dict[str, Any]]:
        return [f.as_row() for f in self.findings]

    def _repr_html_(self) -> str:
        """The findings as a table, each one's advice under it in full (the lines ``--json`` carries)."""
        rows = [[f.status, f.check, f.subject, f.detail] for f in self.findings]
        title = "doctor: something to act on" if self.needs_action else "doctor: nothing to act on"
        notes = [line for f in self.findings if f.advice
                 for line in (f"{f.status}: {f.check}, {f.subject}", *(f"  - {a}" for a in f.advice))]  # fmt: skip
        return rows_table(title, ["status", "check", "subject", "detail"], rows, notes=notes)


def doctor(*, ports: Sequence[int] = DEFAULT_PORTS, settings: Settings | None = None) -> Doctor:
    """The report for this machine: ``ports`` are where to look for servers (the usual ones by default);
    ``settings``: those in force (read as the command line reads them when not given)."""
    findings: list[Finding] = []
    settings = _settings(settings, findings)
    found = list(discover(["127.0.0.1"], list(ports), timeout=SCAN_TIMEOUT, progress=False))  # fresh, not cached
    findings += _configured(settings)
    findings.append(_answering(settings, found))
    listening = _listening({*ports, *(e.port for e in found)})
    if listening is None:
        findings.append(Finding("exposure", "this machine", INFO, "its socket table cannot be read here (run as an "
                                "administrator to check where each server listens)"))  # fmt: skip
    for e in found:
        findings += _exposure(e, (listening or {}).get(e.port, []))
        findings += _cors(e)
    findings += _windows(found)
    return Doctor(findings)


def _settings(settings: Settings | None, findings: list[Finding]) -> Settings | None:
    if settings is not None:
        return settings
    try:
        return Settings.find()
    except ConfigError as exc:
        findings.append(Finding("settings", exc.source, ACT, str(exc), ("fix the file, or name another: --config",)))
        return None


def _configured(settings: Settings | None) -> list[Finding]:
    if settings is None:
        return []
    out = []
    for p in settings.config.by_priority():
        where = settings.origins.get(p.name, "")
        limits = ", ".join(f"{k} {v}" for k, v in (("rpm", p.rpm), ("tpm", p.tpm)) if v) or "no rate limit"
        allow = f"models allowed: {', '.join(p.allowed_models)}" if p.allowed_models else "any model may be asked"
        advice: tuple[str, ...] = ()
        if url_scope(p.base_url) is not Scope.LOOPBACK and (not p.allowed_models or not (p.rpm or p.tpm)):
            advice = ("a provider beyond this machine: pin its models (allowed_models = [...]) and its rate "
                      "(rpm, tpm), so a runaway loop cannot spend a cloud key",)  # fmt: skip
        out.append(Finding("configured", f"{p.name} ({p.base_url})", INFO, f"{where}; {allow}; {limits}", advice))
    out.append(Finding("request log", request_log_path(settings.config), OK,
                       "every call is logged there (no content, no keys): nxs-lab logs"))  # fmt: skip
    return out


def _answering(settings: Settings | None, found: Iterable[Endpoint]) -> Finding:
    if settings is not None and settings.config.providers:
        first = settings.config.by_priority()[0]
        return Finding("answers", first.name, OK, f"configured: {first.base_url}, then the rest in priority order")
    usable = [e for e in found if not e.auth_required and not e.error and e.models]
    if usable:
        e = usable[0]
        return Finding("answers", f"{e.label} ({e.url})", OK, "found on this machine (nothing configured)",
                       ("pin it: nxs-lab init",))  # fmt: skip
    return Finding("answers", "nothing", ACT, "nothing is configured and no server answers here without a key",
                   ("start one (LM Studio, ollama serve, llama-server) or nxs-lab serve, then nxs-lab init",))  # fmt: skip


def _listening(ports: Iterable[int]) -> dict[int, list[str]] | None:
    """The addresses each of ``ports`` listens on, from this machine's socket table; ``None`` if it is unreadable."""
    import psutil

    wanted = set(ports)
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, PermissionError):
        return None
    out: dict[int, list[str]] = {}
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port in wanted:
            out.setdefault(c.laddr.port, []).append(c.laddr.ip)
    return out


def _reach(addr: str) -> str:
    """Who can reach a listening address: this machine, the tailnet, or other machines."""
    if addr in ("0.0.0.0", "::", ""):
        return "every interface"
    if is_tailnet(addr):
        return "tailnet"
    ip = ipaddress.ip_address(addr.split("%", 1)[0])
    return "this machine" if ip.is_loopback else f"the {address_scope(ip).value} network"


def _exposure(e: Endpoint, addresses: Sequence[str]) -> list[Finding]:
    subject = f"{e.label} on port {e.port}"
    reaches = sorted({_reach(a) for a in addresses}) or ["this machine"]
    beyond = [r for r in reaches if r not in ("this machine", "tailnet")]
    where = ", ".join(f"{a or '*'}" for a in addresses) or "127.0.0.1"
    if not beyond:
        how = "Tailscale only" if "tailnet" in reaches else "this machine only"
        return [Finding("exposure", subject, OK, f"listens on {where}: reachable from {how}")]
    if e.auth_required:
        return [Finding("exposure", subject, INFO, f"listens on {where} ({', '.join(beyond)}) and wants a key",
                        (TAILSCALE.format(port=e.port),))]  # fmt: skip
    advice = (
        BIND_LOCAL.get(e.kind, "bind it to 127.0.0.1"),
        TAILSCALE.format(port=e.port),
        KEY,
        *(f"firewall: {line.format(port=e.port)}" for line in FIREWALL),
    )
    detail = f"listens on {where} ({', '.join(beyond)}) and answers without a key: anyone on the network can use it"
    return [Finding("exposure", subject, ACT, detail, advice)]


def _cors(e: Endpoint) -> list[Finding]:
    """Whether a web page of any origin may call the server from the user's own browser."""
    from ..client.provider import Provider

    if e.auth_required:
        return []
    with Provider(name="doctor", base_url=e.url) as p:
        try:
            reply = p.http.get(f"{e.url}/models", headers={"Origin": "https://example.invalid"}, timeout=3)
        except Exception as exc:  # noqa: BLE001 - the check's own failure is a finding, never a crash
            return [Finding("cors", f"{e.label} on port {e.port}", INFO, f"not checked: {type(exc).__name__}")]
    allowed = reply.headers.get("access-control-allow-origin")
    if allowed in ("*", "https://example.invalid"):
        return [Finding("cors", f"{e.label} on port {e.port}", ACT,
                        f"any web page you open may call it (Access-Control-Allow-Origin: {allowed})",
                        ("LM Studio: Developer > Server Settings: turn off CORS; Ollama: unset OLLAMA_ORIGINS; "
                         "llama-server and vLLM: put a proxy with an origin allowlist in front",))]  # fmt: skip
    return [Finding("cors", f"{e.label} on port {e.port}", OK, "web pages of other origins may not call it")]


def _windows(found: Sequence[Endpoint]) -> list[Finding]:
    """The window to run each model on this machine with: the largest common one that fits the memory available
    now, from the model's real shape (its GGUF header), within what it was trained for."""
    try:
        from ..quant.fit import recommend_models
    except ImportError:
        return [Finding("window", "models here", INFO, "install nxs_lab[data] to read the models' shapes")]
    paths = [m.extra.get("model_path") for e in found for m in e.models]
    folders = sorted({str(Path(path).parent) for path in paths if isinstance(path, str)})
    try:
        fits = recommend_models(context=8192, folders=folders, published=False)
    except ImportError:
        return [Finding("window", "models here", INFO, "install nxs_lab[data] to read the models' shapes")]
    out = []
    for f in fits.fits:
        usable = [w for w in WINDOWS if w <= min(f.max_context, f.shape.context_length or f.max_context)]
        status, detail = (OK, f"run it with a window of {usable[-1]:,} tokens") if usable else (
            ACT, f"even {WINDOWS[0]:,} tokens do not fit the {f.available_mb:,.0f} MB available now")  # fmt: skip
        out.append(Finding("window", f"{f.shape.name} ({f.found_in})", status,
                           f"{detail} (it fits up to {f.max_context:,}; trained for {f.shape.context_length:,})"))  # fmt: skip
    return out
