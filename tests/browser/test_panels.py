"""Chat, tool and quantization panels in a real JupyterLab, in Chromium: render, interact, see the result."""

from __future__ import annotations

import pytest

import nxs_lab as nx

from .conftest import assert_no_widget_errors, open_and_run_all

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.timeout(300)]


MARKDOWN = "Here is **bold** text.\\n\\n```python\\nprint('hi')\\n```\\n\\n| a | b |\\n|---|---|\\n| 1 | 2 |"


def test_chat_panel_streams_an_answer(page, lab, local_server: nx.LocalServer) -> None:
    """Enter sends and focus stays in the box; the model dropdown lists the server's model; an answer shows who gave
    it; a cut answer is marked; an earlier Markdown answer is HTML (bold, highlighted code, a table); copy works."""
    nb = lab.write_notebook(
        "chat_panel.ipynb",
        [
            "import nxs_lab as nx\nfrom nxs_lab.tools import Transcript\nfrom nxs_lab.ui import ChatPanel\n"
            "t = Transcript('chat.jsonl')\nt.append({'role': 'user', 'content': 'Show me Markdown.'})\n"
            f"t.append({{'role': 'assistant', 'content': \"{MARKDOWN}\"}})\nt.close()\n"
            f"panel = ChatPanel(nx.Provider(name='embedded', base_url='{local_server.base_url}', "
            f"model='{local_server.chat_alias}'), max_tokens=24, transcript='chat.jsonl')\npanel",
        ],
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_and_run_all(page, lab, nb)
    box = page.locator(".jp-OutputArea .nxs-chatview textarea.nxs-input")
    box.wait_for(timeout=90_000)
    assert_no_widget_errors(page)
    body = page.locator(".nxs-chatview .nxs-assistant .nxs-body").first  # the Markdown answer, as elements
    assert body.locator("strong").inner_text() == "bold"
    assert body.locator("pre.nxs-code span").count() >= 1 and body.locator("table td").count() == 2
    model = page.locator(".jp-OutputArea .widget-dropdown:has-text('model') select")
    assert local_server.chat_alias in model.locator("option").all_inner_texts()[0]

    box.click()
    box.fill("Name three colours.")
    box.press("Enter")  # Enter sends
    page.locator(".jp-OutputArea", has_text="answered by").first.wait_for(timeout=90_000)
    assert page.evaluate("document.activeElement.classList.contains('nxs-input')")  # focus stayed in the box
    assert box.input_value() == ""
    answer = page.locator(".nxs-chatview .nxs-log .nxs-msg.nxs-assistant").last
    assert "answered by embedded" in answer.locator(".nxs-meta").inner_text()
    box.fill("Write a long story about a lighthouse.")
    box.press("Shift+Enter")  # a new line, not a send
    assert box.input_value().endswith("\n") and page.locator(".nxs-chatview .nxs-log .nxs-user").count() == 2
    page.locator(".jp-OutputArea .widget-dropdown:has-text('model')").first.wait_for()
    page.locator(".jp-OutputArea .widget-text:has-text('max tokens') input").fill("4")
    page.locator(".jp-OutputArea .widget-text:has-text('max tokens') input").press("Tab")
    box.press("Enter")
    page.locator(".nxs-chatview .nxs-mark", has_text="cut at max_tokens").first.wait_for(timeout=90_000)

    page.locator(".nxs-chatview .nxs-assistant .nxs-copy").first.click()
    page.locator(".nxs-chatview .nxs-copy", has_text="copied").first.wait_for(timeout=5_000)
    assert page.evaluate("navigator.clipboard.readText()").startswith("Here is **bold** text.")
    page.locator(".jp-OutputArea", has_text="tokens (server tokenizer)").first.wait_for(timeout=30_000)  # the meter
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
    assert page.locator(".jp-OutputArea img:visible").count() == 0  # no empty (broken) image before the first plot
    measure.click()
    page.locator(".jp-OutputArea", has_text="measured 2 variants").first.wait_for(timeout=240_000)
    out = page.locator(".jp-OutputArea").first.inner_text()
    assert "Q8_0" in out and "recommendation" in out and "(n=1)" in out and "± 0" not in out
    assert page.locator(".jp-OutputArea img:visible").count() >= 1  # the plot
    _one_line_per_variant_and_a_visible_scrollbar(page)
    assert_no_widget_errors(page)


def _one_line_per_variant_and_a_visible_scrollbar(page) -> None:
    """The variants' table: every row as tall as the header row (one line each: the notes sit under the table), and
    in the panel's box, wider than it, a sideways scrollbar that shows before anyone scrolls."""
    box = page.locator(".jp-OutputArea .nxs-table", has_text="bpw").first
    heights = box.evaluate("b => Array.from(b.querySelectorAll('tr')).map(r => r.getBoundingClientRect().height)")
    assert len(heights) >= 3 and max(heights) <= 1.3 * min(heights), heights
    page.set_viewport_size({"width": 760, "height": 900})
    page.wait_for_timeout(300)  # the lab relayouts after the resize
    shown = box.evaluate(
        "b => ({wider: b.scrollWidth > b.clientWidth, overflow: getComputedStyle(b).overflowX})"
    )  # (headless Chromium hides scrollbars themselves: "scroll" is what makes a desktop browser draw one)
    assert shown["wider"] and shown["overflow"] == "scroll", shown
    page.set_viewport_size({"width": 1280, "height": 900})
