"""The embedded server's chat format: llama-cpp-python's ``chatml-function-calling``, hearing the user's text.

That handler renders its ChatML template with Jinja's HTML autoescape on, so the model is sent
``&#34;hi&#34; &lt;b&gt; &amp; ok`` for ``"hi" <b> & ok``: every chat about code costs up to twice its tokens, the
kit's exact count no longer matches the server's, and the model answers in entities. Its template also leaves the
``tool`` role out, so a tool's result never reaches the model. The kit serves its chat alias through the same
handler (its tool calls, grammars and streaming unchanged) with the two things mended:

* autoescape off: the template is ChatML, not HTML, and the model sees the characters typed;
* a ``tool`` message rendered as ChatML renders any turn: ``<|im_start|>tool\\n{content}<|im_end|>``.

The handler is llama-cpp-python's own function, made again with those two changes (its code object with the
template constant replaced, its globals with a ``jinja2`` whose ``select_autoescape`` says no); the original stays
registered and untouched. Runs inside the server's process only (see :mod:`nxs_lab.local.launcher`);
:func:`unescaped_chatml_function_calling` raises when the installed llama-cpp-python's handler no longer has the
shape this relies on, so a changed version fails at start instead of serving escaped prompts.
"""

from __future__ import annotations

import types
from typing import Any

__all__ = ["TOOL_TURN", "unescaped_chatml_function_calling"]

# Where the handler's template ends its per-message branches; the tool branch goes right before it.
_LOOP_END = "{% endfor %}{% if add_generation_prompt %}"
TOOL_TURN = "{% if message.role == 'tool' %}{{ message.content }}<|im_end|>\n{% endif %}"


class _NoAutoescape:
    """``jinja2`` as the handler sees it: everything the real module has, but ``select_autoescape`` says no."""

    def __init__(self, real: types.ModuleType) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    @staticmethod
    def select_autoescape(*_args: Any, **_kw: Any) -> Any:
        return lambda _template_name=None: False


def unescaped_chatml_function_calling() -> Any:
    """llama-cpp-python's ``chatml-function-calling`` handler with autoescape off and tool results rendered."""
    import jinja2
    from llama_cpp import llama_chat_format

    original = llama_chat_format.chatml_function_calling
    code = original.__code__
    consts = list(code.co_consts)
    templates = [
        i for i, c in enumerate(consts) if isinstance(c, str) and c.startswith("{% for message in messages %}")
    ]
    if len(templates) != 1 or consts[templates[0]].count(_LOOP_END) != 1 or "jinja2" not in code.co_names:
        raise RuntimeError(
            "this llama-cpp-python's chatml-function-calling handler is not the one the embedded server mends "
            "(its template or its autoescape changed): the kit supports llama-cpp-python 0.3.x"
        )
    i = templates[0]
    consts[i] = consts[i].replace(_LOOP_END, TOOL_TURN + _LOOP_END)
    namespace = dict(original.__globals__)
    namespace["jinja2"] = _NoAutoescape(jinja2)
    handler = types.FunctionType(
        code.replace(co_consts=tuple(consts)),
        namespace,
        "nxs_chatml_function_calling",
        original.__defaults__,
        original.__closure__,
    )
    handler.__kwdefaults__ = original.__kwdefaults__
    return handler
