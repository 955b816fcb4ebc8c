"""Chat, tool and quantization panels in a real JupyterLab, in Chromium: render, interact, see the result."""

from __future__ import annotations

import pytest

import nxs_lab as nx

from .conftest import assert_no_widget_errors, open_and_run_all

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.timeout(300)]


def test_chat_panel_streams_an_answer(page, lab, local_server: nx.LocalServer) -> None:
    nb = lab.write_notebook(
        "chat_panel.ipynb",
        [
            "import nxs_lab as nx\nfrom nxs_lab.ui import ChatPanel\n"
            f"panel = ChatPanel(nx.Provider(name='embedded', base_url='{local_server.base_url}', "
            f"model='{local_server.chat_alias}'), max_tokens=24)\npanel",
        ],
    )
    open_and_run_all(page, lab, nb)
    box = page.locator(".jp-OutputArea .widget-textarea textarea:visible")
    box.wait_for(timeout=90_000)
    assert_no_widget_errors(page)
    box.fill("Name three colours.")
    page.locator(".jp-OutputArea .widget-button:visible", has_text="Send").click()
    page.locator(".jp-OutputArea", has_text="answered by").first.wait_for(timeout=90_000)
    page.locator(".jp-OutputArea", has_text="tokens (server tokenizer)").first.wait_for(timeout=30_000)  # the meter
    out = page.locator(".jp-OutputArea").first.inner_text()
    assert "user: Name three colours." in out and "assistant:" in out and "answered by embedded" in out
    assert "tokens (server tokenizer)" in out  # the context meter
    assert_no_widget_errors(page)


def test_tool_panel_runs_a_loop(page, lab, local_server: nx.LocalServer) -> None:
    nb = lab.write_notebook(
        "tool_panel.ipynb",
        [
            "import nxs_lab as nx\nfrom nxs_lab.ui import ToolPanel\ntb = nx.Toolbox()\n"
            "@tb.tool\ndef search_memory(query: str) -> str:\n    '''Search the notes.'''\n    return 'rivers flow'\n"
            f"p = nx.Provider(name='embedded', base_url='{local_server.base_url}', model='{local_server.chat_alias}')\n"
            "ToolPanel(p, tb, prompt='What do my notes say about rivers?', max_rounds=2, force_first='search_memory', "
            "max_tokens=40)",
        ],
    )
    open_and_run_all(page, lab, nb)
    run = page.locator(".jp-OutputArea .widget-button:visible", has_text="Run")
    run.wait_for(timeout=90_000)
    assert_no_widget_errors(page)
    run.click()
    page.locator(".jp-OutputArea", has_text="round(s)").first.wait_for(timeout=120_000)
    out = page.locator(".jp-OutputArea").first.inner_text()
    assert "trace (live)" in out and "search_memory" in out
    assert_no_widget_errors(page)


def test_quant_panel_measures_one_variant(page, lab) -> None:
    nb = lab.write_notebook(
        "quant_panel.ipynb",
        [
            "import nxs_lab as nx\nfrom nxs_lab.ui import QuantPanel\n"
            "QuantPanel(nx.bundled_model_path(), types=('Q8_0',), repetitions=1)",
        ],
    )
    open_and_run_all(page, lab, nb)
    measure = page.locator(".jp-OutputArea .widget-button:visible", has_text="Measure")
    measure.wait_for(timeout=90_000)
    assert_no_widget_errors(page)
    measure.click()
    page.locator(".jp-OutputArea", has_text="measured 2 variant(s)").first.wait_for(timeout=240_000)
    out = page.locator(".jp-OutputArea").first.inner_text()
    assert "Q8_0" in out and "recommendation" in out
    assert page.locator(".jp-OutputArea img:visible").count() >= 1  # the plot
    assert_no_widget_errors(page)
