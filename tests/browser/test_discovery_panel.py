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
    _the_wide_table_scrolls(page)
    page.locator(".jp-OutputArea .widget-button:visible", has_text="Use").click()
    page.locator(".jp-OutputArea", has_text="using http://127.0.0.1").first.wait_for(timeout=30_000)
    assert_no_widget_errors(page)


def _the_wide_table_scrolls(page) -> None:
    """In a narrow window the endpoints table is wider than the panel: its box scrolls sideways, and scrolled to
    the end, the last column is inside the box (nothing is clipped for good)."""
    page.set_viewport_size({"width": 760, "height": 900})
    box = page.locator(".jp-OutputArea .nxs-table").first
    box.wait_for()
    page.wait_for_timeout(300)  # the lab relayouts after the resize
    assert box.evaluate("b => b.scrollWidth > b.clientWidth")
    box.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
    last = box.locator("th").last
    inside = box.evaluate(
        "(b) => { const r = b.getBoundingClientRect(); const c = b.querySelectorAll('th');"
        " const l = c[c.length - 1].getBoundingClientRect(); return l.right <= r.right + 1 && l.left >= r.left - 1; }"
    )
    assert inside, last.inner_text()
    numbers = box.locator("td[style*='text-align:right']")
    assert numbers.count() >= 1  # the port and the window, right-aligned
    box.evaluate("b => { b.scrollLeft = 0; }")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_the_runbook_tables_are_one_line_per_row_and_scroll(page, lab, local_server: nx.LocalServer) -> None:
    """What 01_discovery shows, in the lab: the servers and models tables (the kit's renderer, not pandas'), every
    row one line tall (the kind and the quantization unwrapped), a sideways scrollbar box in a narrow window."""
    nb = lab.write_notebook(
        "runbook_tables.ipynb",
        [
            "import nxs_lab as nx\n"
            f"found = nx.discover(['127.0.0.1'], [{local_server.port}], progress=False)\n"
            "found.servers()",
            "found.models()",
        ],
    )
    open_and_run_all(page, lab, nb)
    models = page.locator(".jp-OutputArea .nxs-table", has_text="model kind").first
    models.wait_for(timeout=90_000)
    page.set_viewport_size({"width": 760, "height": 900})
    page.wait_for_timeout(300)
    for box in (page.locator(".jp-OutputArea .nxs-table", has_text="latency_ms").first, models):
        heights = box.evaluate("b => Array.from(b.querySelectorAll('tr')).map(r => r.getBoundingClientRect().height)")
        assert len(heights) >= 2 and max(heights) <= 1.3 * min(heights), heights
        assert box.evaluate("b => getComputedStyle(b).overflowX") == "scroll"
    assert "llama-cpp-python server" in models.inner_text()
    page.set_viewport_size({"width": 1280, "height": 900})
    assert_no_widget_errors(page)
