"""The DiscoveryPanel in a real JupyterLab, in Chromium: it renders, a scan is clicked, its rows appear."""

from __future__ import annotations

import pytest

import nxs_lab as nx

from .conftest import assert_no_widget_errors, open_and_run_all

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.timeout(240)]


def test_scan_in_the_browser_shows_the_embedded_server(page, lab, local_server: nx.LocalServer) -> None:
    nb = lab.write_notebook(
        "discovery_panel.ipynb",
        [
            "from nxs_lab.ui import DiscoveryPanel\n"
            f"panel = DiscoveryPanel(hosts='127.0.0.1', ports='{local_server.port}')\n"
            "panel",
        ],
    )
    open_and_run_all(page, lab, nb)
    scan = page.locator(".jp-OutputArea .widget-button:visible", has_text="Scan")
    scan.wait_for(timeout=90_000)
    assert_no_widget_errors(page)
    scan.click()
    page.locator(".jp-OutputArea", has_text="smollm2-135m-instruct").first.wait_for(timeout=60_000)
    out = page.locator(".jp-OutputArea").first.inner_text()
    assert "llama-cpp-python" in out and "found 1 endpoint" in out
    page.locator(".jp-OutputArea .widget-button:visible", has_text="Use").click()
    page.locator(".jp-OutputArea", has_text="using http://127.0.0.1").first.wait_for(timeout=30_000)
    assert_no_widget_errors(page)
