"""Scanning 256 loopback hosts × 5 ports, fingerprinting included, beside nmap on the same targets.

    .venv/bin/python benchmarks/discovery.py [--runs 5]

Three stand-in servers (nxs_lab.testing.faults, each in its own process) listen on 127.0.0.10:1234,
127.0.0.20:11434 and 127.0.0.30:8080; everything else in 127.0.0.0/24 is closed. The anchor is
`nmap -sT -T4 -n` (Debian's nmap; -n or it waits on reverse DNS) on the same addresses and ports, in the
same run; both must find the same open ports. Goal (benchmarks/README.md): <= 0.3 s including fingerprinting.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import time

import nxs_lab as nx
from nxs_lab.testing import fault_process

PORTS = [1234, 11434, 8080, 8000, 4000]
SERVING = [("127.0.0.10", 1234), ("127.0.0.20", 11434), ("127.0.0.30", 8080)]


def nmap_scan() -> set[tuple[str, int]]:
    out = subprocess.run(
        ["nmap", "-sT", "-T4", "-n", "-p", ",".join(map(str, PORTS)), "127.0.0.0/24", "-oG", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = set()
    for line in out.splitlines():
        if "Ports:" not in line:
            continue
        host = line.split()[1]
        for entry in line.split("Ports:")[1].split(","):
            fields = entry.strip().split("/")
            if len(fields) > 1 and fields[1] == "open":
                found.add((host, int(fields[0])))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        for host, port in SERVING:
            stack.enter_context(fault_process("ok", "--host", host, "--port", str(port)))
        nx.discover(["127.0.0.10"], [1234], progress=False)  # warm-up: imports, first fingerprint
        ours, found = [], set()
        for _ in range(args.runs):
            t0 = time.perf_counter()
            eps = nx.discover(["127.0.0.0/24"], PORTS, progress=False)
            ours.append(time.perf_counter() - t0)
            found = {(e.host, e.port) for e in eps}
        theirs, nmap_found = [], None
        if shutil.which("nmap"):
            for _ in range(args.runs):
                t0 = time.perf_counter()
                nmap_found = nmap_scan()
                theirs.append(time.perf_counter() - t0)
    ours_s = statistics.median(ours)
    print(f"targets: 254 hosts x {len(PORTS)} ports; serving: {sorted(SERVING)}")
    print(f"{'nxs_lab.discover (with fingerprints)':<40} {ours_s * 1000:8.1f} ms   found {sorted(found)}")
    if theirs:
        print(
            f"{'nmap -sT -T4 -n (ports only)':<40} {statistics.median(theirs) * 1000:8.1f} ms   found {sorted(nmap_found)}"
        )
        same = "same open ports" if nmap_found == found == set(SERVING) else "DIFFERENT open ports"
    else:
        print("nmap: not installed (apt-get install nmap), anchor skipped")
        same = "nmap not run"
    verdict = "meets" if ours_s <= 0.3 else "misses"
    anchor = f", nmap {statistics.median(theirs) * 1000:.0f} ms" if theirs else ""
    print(
        f"summary: discover {ours_s * 1000:.0f} ms for 1,270 probes with fingerprinting{anchor}; {same}; "
        f"{verdict} the 300 ms goal"
    )


if __name__ == "__main__":
    main()
