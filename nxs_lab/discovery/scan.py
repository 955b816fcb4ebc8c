"""Find the LLM servers that are up, and what they serve.

    >>> eps = nx.discover()              # loopback, the known ports  # doctest: +SKIP
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
import ipaddress
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

from .._net import Scope, address_scope, is_tailnet
from .._optional import progress as progress_bar
from ..config import Timeouts
from ..defaults import (
    DEFAULT_PORTS,
    DISCOVERY_CONNECT_TIMEOUT,
    DISCOVERY_ENDPOINT_TIMEOUT,
    DISCOVERY_MAX_PROBES,
    PROBE_MAX_BYTES,
)
from ..errors import AuthenticationFailed, ProviderError, ResponseTimeout, ScanRefused, ServerError
from ..models import ModelInfo
from ..servers import GENERIC
from ._connect import Progress, connect_scan
from ._targets import expand_hosts
from .endpoints import Endpoint, Endpoints

__all__ = ["adiscover", "discover", "is_exposed"]


def open_file_limit() -> int:
    """How many files (sockets) this process may hold open: the soft ``RLIMIT_NOFILE`` on POSIX; on Windows, which
    has no such limit for sockets, the C runtime's default of 512 handles, a bound that is safe there."""
    try:
        import resource
    except ModuleNotFoundError:  # Windows
        return 512
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return int(soft) if soft != resource.RLIM_INFINITY else 65536


def is_exposed(addr: str) -> bool:
    """Whether a server on ``addr`` is reachable by other machines: anything but the loopback, except a tailnet
    address (reachable only from the user's own tailnet: the safe way to reach a home box)."""
    return address_scope(ipaddress.ip_address(addr)) is not Scope.LOOPBACK and not is_tailnet(addr)


def _fingerprint(addr: str, port: int, connect_s: float, timeout: float, limit_s: float) -> Endpoint | None:
    """What answers on ``addr:port``: its kind, version and models, within ``limit_s`` seconds in all and
    :data:`~nxs_lab.defaults.PROBE_MAX_BYTES` per reply. ``None`` for an open port that is no LLM server."""
    from ..client._allowance import Allowance
    from ..client.provider import Provider

    host = f"[{addr}]" if ":" in addr else addr
    url = f"http://{host}:{port}/v1"
    t = Timeouts(connect=timeout, first_byte=max(2.0, timeout * 4), idle=max(2.0, timeout * 4))
    exposed = is_exposed(addr)
    allowance = Allowance.within(limit_s, None)
    # no key: discovery never sends one
    with (
        allowance.active(),
        Provider(name="discovery", base_url=url, timeouts=t, max_response_bytes=PROBE_MAX_BYTES) as p,
    ):
        try:
            p.get_json("/v1/models")
        except AuthenticationFailed:
            return Endpoint(url, addr, port, "unknown", "needs auth", None, connect_s, True, exposed)
        except ServerError as exc:  # a 500 for a missing key is how a LiteLLM proxy answers: ask the adapters
            adapter = p.catalog.server
            if adapter.lists_models_without_key:
                return None  # open, but not an OpenAI-compatible server
            why = f"models: {exc.message} (it lists its models only with its key)"
            return Endpoint(url, addr, port, adapter.kind, adapter.label, None, connect_s, True, exposed, (), why)
        except ProviderError:
            return None  # open, but not an OpenAI-compatible server
        try:
            adapter = p.catalog.server
        except ResponseTimeout:  # its native endpoints took the whole limit: reported as what answered, and cut
            adapter = GENERIC
        models: tuple[ModelInfo, ...] = ()
        error = None
        try:
            models = tuple(p.list_models())  # the catalogue checks the payload's shape
        except ProviderError as exc:
            error = f"models: {exc.message}"
        if allowance.tripped == "deadline":
            error = f"stopped after its {limit_s:g} s limit" + (f" ({error})" if error else "")
    return Endpoint(
        url, addr, port, adapter.kind, adapter.label, p.server_version, connect_s, False, exposed, models, error
    )


async def _read_servers(
    opened: list[tuple[tuple[str, int], float]], connect_s: float, limit_s: float, notes: list[str]
) -> list[Endpoint]:
    """Fingerprint the open ports, 16 at a time; a device that cannot be read becomes a note."""
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, max(1, len(opened)))) as pool:
        found = await asyncio.gather(
            *(loop.run_in_executor(pool, _fingerprint, a, p, s, connect_s, limit_s) for (a, p), s in opened),
            return_exceptions=True,
        )
    endpoints: list[Endpoint] = []
    for ((a, p), _), e in zip(opened, found, strict=True):
        if isinstance(e, Endpoint):
            endpoints.append(e)
        elif isinstance(e, Exception):  # one bad device is a note, never the end of the scan
            notes.append(f"{a}:{p} could not be read ({type(e).__name__}: {str(e)[:200]})")
        elif isinstance(e, BaseException):
            raise e
    others = sum(1 for e in found if e is None)
    if others:
        notes.append(f"{others} open port(s) did not answer as an OpenAI-compatible server")
    return sorted(endpoints, key=lambda e: (ipaddress.ip_address(e.host), e.port))


def _check_scan(**numbers: Any) -> None:
    """Refuse a timeout or a concurrency that would make the scan find nothing in silence (0, negative, NaN)."""
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScanRefused(f"{name}: {value!r:.40} is a {type(value).__name__}, not a number")
        if not math.isfinite(value) or value <= 0:
            raise ScanRefused(f"{name}: {value!r} must be a positive, finite number")


async def adiscover(
    hosts: Sequence[str] = ("127.0.0.1",),
    ports: Sequence[int] | None = None,
    *,
    timeout: float = DISCOVERY_CONNECT_TIMEOUT,  # noqa: ASYNC109 - per probe, not for the whole call
    concurrency: int = 512,
    allow_public: bool = False,
    max_addresses: int = 1024,
    max_probes: int = DISCOVERY_MAX_PROBES,
    endpoint_timeout: float = DISCOVERY_ENDPOINT_TIMEOUT,
    progress: bool | Progress | None = None,
    extra_ports: Sequence[int] = (),
) -> Endpoints:
    """Async :func:`discover`: probe ``hosts`` × ``ports`` and fingerprint what answers."""
    t_start = time.perf_counter()
    notes: list[str] = []
    hosts = [hosts] if isinstance(hosts, str) else list(hosts)  # discover("127.0.0.1"): one host, not its letters
    _check_scan(timeout=timeout, endpoint_timeout=endpoint_timeout, concurrency=concurrency)
    addrs = await expand_hosts(hosts, allow_public, max_addresses, notes)
    port_list = list(dict.fromkeys([*(ports if ports is not None else DEFAULT_PORTS), *extra_ports]))
    for p in port_list:
        if isinstance(p, bool) or not isinstance(p, int):
            raise ScanRefused(f"ports: {p!r:.40} is a {type(p).__name__}, not a port number (write 8000, not '8000')")
        if not 0 < p < 65536:
            raise ScanRefused(f"ports: {p} is not a TCP port")
    if len(addrs) * len(port_list) > max_probes:
        raise ScanRefused(
            f"{len(addrs)} addresses × {len(port_list)} ports = {len(addrs) * len(port_list)} probes, "
            f"over max_probes={max_probes}: raise it to go on"
        )
    targets = [(a, p) for a in addrs for p in port_list]
    limit = max(1, min(concurrency, open_file_limit() - 64))  # never run the process out of file descriptors
    user_report: Progress | None = progress if callable(progress) else None
    bar = None
    if progress is True or (progress is None and len(targets) > 256):
        bar = progress_bar(total=len(targets), desc="scan", leave=False)

    def report(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)
        if user_report is not None:
            user_report(done, total)

    try:
        opened = await asyncio.to_thread(connect_scan, targets, timeout, limit, report)
    finally:
        if bar is not None:
            bar.close()
    endpoints = await _read_servers(sorted(opened.items()), timeout, endpoint_timeout, notes)
    return Endpoints(endpoints, notes, len(targets), time.perf_counter() - t_start)


def discover(
    hosts: Sequence[str] = ("127.0.0.1",),
    ports: Sequence[int] | None = None,
    **kw: Any,
) -> Endpoints:
    """Probe ``hosts`` (names, addresses, CIDR ranges, ``"tailnet"``) × ``ports`` (default: the known LLM ports).

    Keywords: ``timeout`` per connect; ``concurrency``; ``allow_public``; ``max_addresses`` and ``max_probes``
    (addresses × ports) refuse an oversized scan before any packet; ``endpoint_timeout`` seconds to read one
    server (a device that drips or stalls costs no more, and each reply is capped at 4 MiB); ``progress``;
    ``extra_ports``. A device that answers garbage becomes a note on the result, never an exception.

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
