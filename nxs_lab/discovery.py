"""Find the LLM servers that are up, and what they serve.

    >>> eps = nx.discover()                                         # doctest: +SKIP  (loopback, known ports)
    >>> eps = nx.discover(["127.0.0.1", "192.168.1.0/24", "tailnet"])   # doctest: +SKIP
    >>> eps.to_dataframe(); eps[0].provider()                       # doctest: +SKIP

Hosts × ports are probed with non-blocking TCP connects under a concurrency
bound (a closed port costs a refusal, a filtered one at most ``timeout``); the
open ones are fingerprinted through :mod:`nxs_lab.servers` (one adapter per
server kind, native endpoints first). By default only loopback, private
(RFC 1918, link-local) and Tailscale (100.64.0.0/10, fd7a:115c:a1e0::/48)
addresses are scanned; anything else needs ``allow_public=True``. Discovery
never sends an API key: an endpoint that wants one is reported as needing auth.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import ipaddress
import json
import resource
import selectors
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ._html import rows_table
from .config import Timeouts
from .errors import AuthenticationFailed, ProviderError
from .models import ModelInfo, ModelKind

__all__ = ["DEFAULT_PORTS", "Endpoint", "Endpoints", "ScanRefused", "adiscover", "discover", "tailnet_peers"]

DEFAULT_PORTS: tuple[int, ...] = (1234, 11434, 8080, 9931, 8000, 4000)
_TAILNET_V4 = ipaddress.ip_network("100.64.0.0/10")
_TAILNET_V6 = ipaddress.ip_network("fd7a:115c:a1e0::/48")
Progress = Callable[[int, int], None]


class ScanRefused(ValueError):
    """A scan was refused before any packet was sent: public addresses or too many of them."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One LLM server found: where, what kind, how fast, whether it wants a key, and its models."""

    url: str
    host: str
    port: int
    kind: str
    label: str
    version: str | None
    latency_s: float
    auth_required: bool
    exposed: bool
    models: tuple[ModelInfo, ...] = ()
    error: str | None = None

    def provider(self, name: str | None = None, api_key: str | None = None, **kw: Any) -> Any:
        """A :class:`~nxs_lab.Provider` for this endpoint (give ``api_key`` when ``auth_required``)."""
        from .providers import Provider

        chat = [m.id for m in self.models if m.kind is ModelKind.CHAT]
        kw.setdefault("model", chat[0] if chat else None)
        return Provider(name=name or f"{self.kind}@{self.host}:{self.port}", base_url=self.url, api_key=api_key, **kw)

    def rows(self) -> list[dict[str, Any]]:
        base = {"url": self.url, "kind": self.label, "version": self.version, "latency_ms": round(self.latency_s * 1000, 1),
                "auth": "needs key" if self.auth_required else "open", "exposed": self.exposed}
        if not self.models:
            return [{**base, "model": None, "model kind": None, "context": None, "quantization": None, "loaded": None}]
        return [{**base, "model": m.id, "model kind": m.kind.value, "context": m.context_window,
                 "quantization": m.quantization, "loaded": m.loaded.value} for m in self.models]


class Endpoints(list):
    """The endpoints a scan found (a list), with the scan's notes and a table view."""

    def __init__(self, items: Iterable[Endpoint] = (), notes: Sequence[str] = (), scanned: int = 0, seconds: float = 0.0):
        super().__init__(items)
        self.notes = list(notes)
        self.scanned = scanned
        self.seconds = seconds

    def rows(self) -> list[dict[str, Any]]:
        return [row for ep in self for row in ep.rows()]

    def to_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows())

    def _repr_html_(self) -> str:
        rows = self.rows()
        cols = list(rows[0]) if rows else ["url"]
        title = f"{len(self)} endpoint(s) in {self.scanned} probes, {self.seconds:.2f} s"
        notes = "".join(f"<div>note: {n}</div>" for n in self.notes)
        return rows_table(title, cols, [list(r.values()) for r in rows]) + notes


def _allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_loopback or ip.is_private or ip.is_link_local or ip in _TAILNET_V4 or ip in _TAILNET_V6


def tailnet_peers(timeout: float = 3.0) -> tuple[list[str], str | None]:
    """Addresses of this tailnet's peers from ``tailscale status --json``, and a note when that failed."""
    exe = shutil.which("tailscale")
    if exe is None:
        return [], "tailscale is not installed here: tailnet peers were not scanned"
    try:
        out = subprocess.run([exe, "status", "--json"], capture_output=True, text=True, timeout=timeout, check=True)
        status = json.loads(out.stdout)
    except (subprocess.SubprocessError, OSError, json.JSONDecodeError) as exc:
        return [], f"tailscale status failed ({type(exc).__name__}): tailnet peers were not scanned"
    addrs: list[str] = []
    for peer in (status.get("Peer") or {}).values():
        addrs += [a for a in peer.get("TailscaleIPs") or [] if ":" not in a]  # IPv4 is enough to reach a peer
    return addrs, None


async def _expand(hosts: Sequence[str], allow_public: bool, max_addresses: int, notes: list[str]) -> list[str]:
    loop = asyncio.get_running_loop()
    out: list[str] = []
    refused: list[str] = []
    for host in hosts:
        if host == "tailnet":
            peers, note = tailnet_peers()
            if note:
                notes.append(note)
            candidates = peers
        elif "/" in host:
            try:
                net = ipaddress.ip_network(host, strict=False)
            except ValueError as exc:
                raise ScanRefused(f"hosts: {host!r} is not a valid network ({exc})") from None
            if net.num_addresses > max_addresses:
                raise ScanRefused(f"hosts: {host} has {net.num_addresses} addresses, over max_addresses={max_addresses}")
            candidates = [str(a) for a in (net.hosts() if net.num_addresses > 2 else net)]
        else:
            try:
                candidates = [str(ipaddress.ip_address(host))]
            except ValueError:
                try:
                    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
                except socket.gaierror:
                    notes.append(f"{host!r} does not resolve: skipped")
                    continue
                candidates = sorted({info[4][0] for info in infos})
        for addr in candidates:
            if not allow_public and not _allowed(ipaddress.ip_address(addr)):
                refused.append(f"{host} ({addr})" if host != addr else addr)
            elif addr not in out:
                out.append(addr)
    if refused:
        raise ScanRefused(
            "refusing to scan public addresses without allow_public=True: " + ", ".join(refused[:5])
            + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        )
    if len(out) > max_addresses:
        raise ScanRefused(f"{len(out)} addresses to scan, over max_addresses={max_addresses}: raise it to go on")
    return out


def _scan(targets: list[tuple[str, int]], timeout: float, limit: int, report: Progress | None) -> dict[tuple[str, int], float]:
    """Non-blocking TCP connects with a selector: ``{(addr, port): seconds}`` for the open ones.

    A loopback or LAN refusal comes back from ``connect_ex`` at once, so most probes never wait; the rest
    are watched together, at most ``limit`` at a time, each for at most ``timeout`` seconds.
    """
    sel = selectors.DefaultSelector()
    pending: dict[socket.socket, tuple[tuple[str, int], float]] = {}
    found: dict[tuple[str, int], float] = {}
    done = 0
    total = len(targets)
    it = iter(targets)
    exhausted = False

    def finish(n: int = 1) -> None:
        nonlocal done
        done += n
        if report is not None:
            report(done, total)

    try:
        while True:
            while not exhausted and len(pending) < limit:
                target = next(it, None)
                if target is None:
                    exhausted = True
                    break
                addr, port = target
                sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                t0 = time.perf_counter()
                code = sock.connect_ex((addr, port))
                if code in (errno.EINPROGRESS, errno.EAGAIN):
                    sel.register(sock, selectors.EVENT_WRITE)
                    pending[sock] = (target, t0)
                    continue
                if code == 0:
                    found[target] = time.perf_counter() - t0
                sock.close()  # refused, unreachable or already open: decided
                finish()
            if not pending:
                break
            now = time.perf_counter()
            oldest = min(t0 for _, t0 in pending.values())
            for key, _ in sel.select(max(0.0, oldest + timeout - now)):
                sock = key.fileobj
                target, t0 = pending.pop(sock)
                sel.unregister(sock)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    found[target] = time.perf_counter() - t0
                sock.close()
                finish()
            now = time.perf_counter()
            for sock, (target, t0) in list(pending.items()):
                if now - t0 >= timeout:  # filtered: no answer within the timeout
                    sel.unregister(sock)
                    sock.close()
                    del pending[sock]
                    finish()
    finally:
        for sock in pending:
            sock.close()
        sel.close()
    return found


def _fingerprint(addr: str, port: int, connect_s: float, timeout: float) -> Endpoint | None:
    from .providers import Provider
    from .servers import identify

    host = f"[{addr}]" if ":" in addr else addr
    url = f"http://{host}:{port}/v1"
    t = Timeouts(connect=timeout, first_byte=max(2.0, timeout * 4), idle=max(2.0, timeout * 4))
    with Provider(name="discovery", base_url=url, timeouts=t) as p:  # no key: discovery never sends one
        try:
            p.get_json("/v1/models")
        except AuthenticationFailed:
            return Endpoint(url, addr, port, "unknown", "needs auth", None, connect_s, True, False)
        except ProviderError:
            return None  # open, but not an OpenAI-compatible server
        adapter, version = identify(p)
        models: tuple[ModelInfo, ...] = ()
        error = None
        try:
            models = tuple(adapter.models(p))
        except ProviderError as exc:
            error = f"models: {exc.message}"
    exposed = not ipaddress.ip_address(addr).is_loopback
    return Endpoint(url, addr, port, adapter.kind, adapter.label, version, connect_s, False, exposed, models, error)


async def adiscover(
    hosts: Sequence[str] = ("127.0.0.1",),
    ports: Sequence[int] | None = None,
    *,
    timeout: float = 0.3,
    concurrency: int = 512,
    allow_public: bool = False,
    max_addresses: int = 1024,
    progress: bool | Progress | None = None,
    extra_ports: Sequence[int] = (),
) -> Endpoints:
    """Async :func:`discover`: probe ``hosts`` × ``ports`` and fingerprint what answers."""
    t_start = time.perf_counter()
    notes: list[str] = []
    addrs = await _expand(list(hosts), allow_public, max_addresses, notes)
    port_list = list(dict.fromkeys([*(ports if ports is not None else DEFAULT_PORTS), *extra_ports]))
    for p in port_list:
        if not 0 < int(p) < 65536:
            raise ScanRefused(f"ports: {p} is not a TCP port")
    targets = [(a, p) for a in addrs for p in port_list]
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = max(1, min(concurrency, soft - 64))  # never run the process out of file descriptors
    user_report: Progress | None = progress if callable(progress) else None
    bar = None
    if progress is True or (progress is None and len(targets) > 256):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(targets), desc="scan", leave=False)

    def report(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)
        if user_report is not None:
            user_report(done, total)

    try:
        opened = await asyncio.to_thread(_scan, targets, timeout, limit, report)
    finally:
        if bar is not None:
            bar.close()
    open_ports = [(a, p, s) for (a, p), s in sorted(opened.items())]
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, max(1, len(open_ports)))) as pool:
        found = await asyncio.gather(*(loop.run_in_executor(pool, _fingerprint, a, p, s, timeout) for a, p, s in open_ports))
    endpoints = sorted((e for e in found if e is not None), key=lambda e: (ipaddress.ip_address(e.host), e.port))
    others = len(open_ports) - len(endpoints)
    if others:
        notes.append(f"{others} open port(s) did not answer as an OpenAI-compatible server")
    return Endpoints(endpoints, notes, len(targets), time.perf_counter() - t_start)


def discover(
    hosts: Sequence[str] = ("127.0.0.1",),
    ports: Sequence[int] | None = None,
    **kw: Any,
) -> Endpoints:
    """Probe ``hosts`` (names, addresses, CIDR ranges, ``"tailnet"``) × ``ports`` (default: the known LLM ports).

    Works inside Jupyter too: when an event loop is already running, the scan runs on a thread of its own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(adiscover(hosts, ports, **kw))
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = asyncio.run(adiscover(hosts, ports, **kw))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            box["error"] = exc

    t = threading.Thread(target=run, name="nxs-lab-discover")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["result"]

