"""Servers the kit starts as child processes (the embedded server, the LiteLLM gateway): wait until one answers,
and stop its whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping

import httpx2

from .errors import ServerStartError

__all__ = ["stop_process", "wait_ready"]


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """Terminate the child's process group, then kill it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait(timeout=5)


def wait_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    headers: Mapping[str, str],
    timeout: float,
    what: str,
    log_tail: Callable[[], str],
) -> None:
    """Poll ``url`` until it answers 200; :class:`ServerStartError` (with the log's tail) when the child exits
    first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    with httpx2.Client(timeout=httpx2.Timeout(2.0)) as client:
        while True:
            code = proc.poll()
            if code is not None:
                raise ServerStartError(f"{what} exited with code {code} before it was ready", log_tail())
            try:
                if client.get(url, headers=dict(headers)).status_code == 200:
                    return
            except httpx2.TransportError:
                pass  # not accepting yet: still starting
            if time.monotonic() > deadline:
                raise ServerStartError(f"{what} did not answer {url} within {timeout:.0f} s", log_tail())
            time.sleep(0.1)
