"""DiscoveryPanel: hosts and ports in, a scan button, progress, the results table, and "use" for a Provider.

    >>> from nxs_lab.ui import DiscoveryPanel
    >>> panel = DiscoveryPanel(on_select=lambda provider: print(provider))   # doctest: +SKIP
    >>> panel                                                                 # doctest: +SKIP

It drives :func:`nxs_lab.discover` on a background thread (the kernel stays free)
and holds no logic of its own.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..client.provider import Provider
from ..defaults import DEFAULT_PORTS, DISCOVERY_CONNECT_TIMEOUT
from ..discovery import Endpoints, discover
from ..errors import NxsLabError
from ._base import Panel, panel_box

__all__ = ["DiscoveryPanel"]


class DiscoveryPanel(Panel):
    """Find servers and pick one. ``provider`` holds the last one picked; ``on_select`` callbacks get it."""

    def __init__(
        self,
        hosts: str = "127.0.0.1",
        ports: str | None = None,
        timeout: float = DISCOVERY_CONNECT_TIMEOUT,
        on_select: Callable[[Provider], Any] | None = None,
    ) -> None:
        self.hosts = widgets.Text(
            value=hosts,
            description="hosts",
            placeholder="127.0.0.1, 192.168.1.0/24, tailnet",
            layout=widgets.Layout(width="420px"),
        )
        self.ports = widgets.Text(
            value=ports or ",".join(map(str, DEFAULT_PORTS)), description="ports", layout=widgets.Layout(width="420px")
        )
        self.timeout = widgets.BoundedFloatText(value=timeout, min=0.05, max=10, step=0.05, description="timeout s")
        self.scan_button = widgets.Button(description="Scan", button_style="primary", icon="search")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="probes")
        self.status = widgets.HTML(value="")
        self.table = widgets.HTML(value="")
        self.choice = widgets.Dropdown(options=[], description="endpoint", layout=widgets.Layout(width="420px"))
        self.use_button = widgets.Button(description="Use", icon="check", disabled=True)
        self.widget = panel_box(
            [
                widgets.HTML("<b>Discovery</b>: find OpenAI-compatible servers"),
                self.hosts,
                self.ports,
                widgets.HBox([self.timeout, self.scan_button]),
                self.progress,
                self.status,
                self.table,
                widgets.HBox([self.choice, self.use_button]),
            ],
            "nxs-discovery-panel",
        )
        self.endpoints: Endpoints | None = None
        self.provider: Provider | None = None
        self.error: BaseException | None = None
        self._callbacks: list[Callable[[Provider], Any]] = [on_select] if on_select else []
        self.scan_button.on_click(lambda _b: self.scan())
        self.use_button.on_click(lambda _b: self.use())

    def on_select(self, callback: Callable[[Provider], Any]) -> None:
        self._callbacks.append(callback)

    # ----------------------------------------------------------------- actions

    def _inputs(self) -> tuple[list[str], list[int]]:
        hosts = [h.strip() for h in self.hosts.value.replace(";", ",").split(",") if h.strip()]
        if not hosts:
            raise ValueError("hosts: give at least one name, address or range")
        ports = []
        for part in self.ports.value.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit():
                raise ValueError(f"ports: {part!r} is not a number")
            ports.append(int(part))
        if not ports:
            raise ValueError("ports: give at least one port")
        return hosts, ports

    def _set_status(self, text: str, ok: bool = True) -> None:
        color = "inherit" if ok else "#b00020"
        self.status.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def _unexpected(self, exc: Exception) -> None:
        super()._unexpected(exc)
        self.scan_button.disabled = False

    def scan(self, wait: bool = False) -> None:
        """Start a scan on a background thread (``wait=True`` blocks until it ends: for scripts and tests)."""
        if self.busy:
            return
        try:
            hosts, ports = self._inputs()
        except ValueError as exc:
            self._set_status(str(exc), ok=False)  # the previous results stay on screen
            return
        self.error = None
        self.scan_button.disabled = True
        self.progress.value, self.progress.max = 0, max(1, len(hosts) * len(ports))
        self._set_status(f"scanning {', '.join(hosts)} on {len(ports)} port(s)…")
        self._background(self._run, hosts, ports, self.timeout.value, wait=wait)

    def _progress(self, done: int, total: int) -> None:
        if total != self.progress.max:
            self.progress.max = total
        # Every probe would be one widget message; a few dozen updates show the same thing.
        if done == total or done % max(1, total // 50) == 0:
            self.progress.value = done

    def _run(self, hosts: list[str], ports: list[int], timeout: float) -> None:
        try:
            eps = discover(hosts, ports, timeout=timeout, progress=self._progress)
        except (NxsLabError, OSError) as exc:
            self.error = exc
            self._set_status(f"{type(exc).__name__}: {exc}", ok=False)
        else:
            self.endpoints = eps
            self.table.value = eps._repr_html_()
            self.choice.options = [(f"{e.label} · {e.url}", i) for i, e in enumerate(eps)]
            self.choice.value = 0 if eps else None  # the first endpoint, ready for "Use"
            self.use_button.disabled = not eps
            self._set_status(
                f"found {len(eps)} endpoint(s) in {eps.seconds:.2f} s" + "".join(f"; {n}" for n in eps.notes)
            )
        finally:
            self.scan_button.disabled = False

    def use(self) -> Provider | None:
        """Make a Provider of the chosen endpoint and hand it to the ``on_select`` callbacks."""
        if not self.endpoints or self.choice.value is None:
            self._set_status("scan first, then choose an endpoint", ok=False)
            return None
        ep = self.endpoints[self.choice.value]
        if ep.auth_required:
            self._set_status(
                f"{ep.url} needs an API key: build nx.Provider(base_url=..., api_key=...) for it", ok=False
            )
            return None
        self.provider = ep.provider()
        for cb in self._callbacks:
            cb(self.provider)
        self._set_status(f"using {ep.url} ({self.provider.model or 'model auto-detected'})")
        return self.provider
