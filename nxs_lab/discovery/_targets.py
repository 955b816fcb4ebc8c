"""Turn the hosts a user names (names, addresses, CIDR ranges, ``"tailnet"``) into addresses to probe,
refusing public ranges and oversized scans before any packet is sent."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import socket
import subprocess
from collections.abc import Iterable, Sequence

from .._net import Scope, address_scope
from ..errors import ScanRefused

__all__ = ["expand_hosts", "tailnet_peers"]


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


def _too_many(n: int, max_addresses: int) -> ScanRefused:
    return ScanRefused(f"{n} or more addresses to scan, over max_addresses={max_addresses}: raise it to go on")


async def expand_hosts(hosts: Sequence[str], allow_public: bool, max_addresses: int, notes: list[str]) -> list[str]:
    """The addresses to probe, in the order named, each once. Refuses (before any packet) public addresses
    without ``allow_public`` and more than ``max_addresses`` in all, as soon as the count passes it."""
    loop = asyncio.get_running_loop()
    out: dict[str, None] = {}  # ordered and O(1) to test: 32 × /22 must not cost seconds just to refuse
    refused: list[str] = []
    for host in hosts:
        candidates: Iterable[str]
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
                raise ScanRefused(
                    f"hosts: {host} has {net.num_addresses} addresses, over max_addresses={max_addresses}"
                )

            candidates = (str(a) for a in (net.hosts() if net.num_addresses > 2 else net))
        else:
            try:
                candidates = [str(ipaddress.ip_address(host))]
            except ValueError:
                try:
                    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
                except socket.gaierror:
                    notes.append(f"{host!r} does not resolve: skipped")
                    continue
                candidates = sorted({str(info[4][0]) for info in infos})
        for addr in candidates:
            if not allow_public and address_scope(ipaddress.ip_address(addr)) is Scope.PUBLIC:
                refused.append(f"{host} ({addr})" if host != addr else addr)
            else:
                out[addr] = None
                if len(out) > max_addresses:
                    raise _too_many(len(out), max_addresses)
    if refused:
        raise ScanRefused(
            "refusing to scan public addresses without allow_public=True: "
            + ", ".join(refused[:5])
            + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        )
    return list(out)
