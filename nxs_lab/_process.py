"""Servers the kit starts as child processes (the embedded server, the LiteLLM gateway): wait until one answers,
and stop its whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx2

from .errors import ServerStartError

__all__ = ["ChildServer", "stop_process", "wait_ready"]


def _signal_group(proc: subprocess.Popen[bytes], hard: bool) -> None:
    """End the child and what it started: its process group on POSIX (it was started in a session of its own);
    on Windows, which has no process groups to signal, the child itself (terminate and kill are one call there)."""
    if hasattr(os, "killpg"):
        os.killpg(proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
    elif hard:
        proc.kill()
    else:
        proc.terminate()


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """Terminate the child's process group, then kill it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    try:
        _signal_group(proc, hard=False)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            _signal_group(proc, hard=True)
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
    with httpx2.Client(timeout=httpx2.Timeout(2.0), trust_env=False) as client:  # a server we started: no proxy
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


class ChildServer:
    """What a server the kit runs as a child process shares: its process, a private temporary folder holding its
    files and its log, and stopping it (also when the object is collected). Subclasses start it with
    :meth:`_spawn` and say what they are in ``what`` and ``_log_name``."""

    what = "the server"
    _log_name = "server.log"

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._log: Any = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def folder(self) -> Path:
        """The private temporary folder (made on first use, removed by :meth:`cleanup`)."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nxs-lab-")
        return Path(self._tmp.name)

    @property
    def log_path(self) -> Path | None:
        return Path(self._tmp.name) / self._log_name if self._tmp is not None else None

    def log_tail(self, lines: int = 40) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def _spawn(self, argv: list[str], env: Mapping[str, str], **popen: Any) -> subprocess.Popen[bytes]:
        """Start the child in a session of its own, its output into the log."""
        self._log = open(self.folder / self._log_name, "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=dict(env),
            start_new_session=True, **popen,
        )  # fmt: skip
        self._finalizer = weakref.finalize(self, stop_process, self._proc)
        return self._proc

    def _ready_or_stopped(self, url: str, headers: Mapping[str, str], timeout: float) -> None:
        """Wait for ``url``; on any failure (or Ctrl-C) stop the child before raising."""
        assert self._proc is not None
        try:
            wait_ready(self._proc, url, headers, timeout, self.what, self.log_tail)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 5 s). Safe to call twice."""
        stop_process(self._proc)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        """Stop, and remove the temporary folder with the child's files and log."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def start(self) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
