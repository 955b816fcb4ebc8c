"""Text that is not plain prose, for tests of token counts and fitting: what a chat about code sends (quotes, ``<``,
``>``, ``&``, backslashes, JSON, HTML, other scripts). A template that HTML-escapes turns each of these into more
tokens than it looks; the kit's own tests and ``benchmarks/budget.py`` send them to real servers."""

from __future__ import annotations

__all__ = ["TRICKY", "code_review"]

TRICKY = [
    'say "hi" <b> & ok',
    'if a < b && s == "x": return "<br>"',
    "print(\"a\\tb\\\\n\", end='')  # backslashes",
    '{"name": "rivers", "tags": ["<a href=\'x\'>", "&amp;"], "n": 3}',
    "<div class=\"note\">5 &gt; 3 &amp;&amp; 'quoted'</div>",
    '東京 — Москва — القاهرة: "quotes" & <angles>',
]


def code_review(turns: int) -> list[dict[str, str]]:
    """A review of one line of code over ``turns`` question-and-answer pairs, each quoting the line: the kind of chat
    an HTML-escaping template makes twice as long as it looks."""
    line = 'if (a < b && s == "x") { return "<br>" & y; }'
    msgs = [{"role": "system", "content": "You review code in one short sentence."}]
    for i in range(turns):
        msgs.append({"role": "user", "content": f"Review {i}: is `{line}` right? It says '{line[:12]}'."})
        msgs.append({"role": "assistant", "content": f'Note {i}: `{line}` compares "s" & returns <br>.'})
    msgs.append({"role": "user", "content": "Summarize the review."})
    return msgs
