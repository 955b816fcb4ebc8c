"""Model answers as HTML: Markdown through markdown-it-py (CommonMark, plus tables and strikethrough), code
blocks highlighted by Pygments.

Raw HTML in an answer is shown as text, never run: a model's output is untrusted, and ``<script>`` or an
``onerror=`` in it must not reach the page. markdown-it also refuses ``javascript:`` and ``data:`` links.

    >>> to_html("**bold** and `code`")
    '<p><strong>bold</strong> and <code>code</code></p>\\n'
    >>> to_html("<img src=x onerror=alert(1)>")
    '<p>&lt;img src=x onerror=alert(1)&gt;</p>\\n'
"""

from __future__ import annotations

import functools
import html

from markdown_it import MarkdownIt

__all__ = ["to_html"]


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """A fenced block's code as Pygments' HTML (inline styles, so no stylesheet is needed); plain when the
    language is unknown or not given."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    if not lang:
        return ""  # markdown-it escapes it and wraps it in <pre><code>
    try:
        lexer = get_lexer_by_name(lang.split()[0])
    except ClassNotFound:
        return ""
    body = highlight(code, lexer, HtmlFormatter(nowrap=True, noclasses=True))
    return f'<pre class="nxs-code"><code class="language-{html.escape(lang.split()[0])}">{body}</code></pre>'


@functools.cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight}).enable(
        ["table", "strikethrough"]
    )


def to_html(text: str) -> str:
    """``text`` (Markdown, possibly cut mid-way while it streams) as safe HTML."""
    return _parser().render(text)
