"""A call's tools are prompt: their schemas are counted with the chat. Exactly where the server applies its own
template for us (llama.cpp's llama-server, started with --jinja), from an estimate with a wide bound elsewhere until
an answer's usage shows what they cost (the embedded llama-cpp-python server); a fit never lets them overflow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import nxs_lab as nx
from nxs_lab.context import tool_spec
from nxs_lab.context.counting import TOOLS_PREAMBLE

from .chats import history
from .conftest import LLAMA_SERVER_CTX

pytestmark = pytest.mark.timeout(300)

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{what} Use it whenever the user asks about {topic}.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "what to look for, in the user's own words"},
                    "limit": {"type": "integer", "description": "how many results at most", "minimum": 1},
                },
                "required": ["query"],
            },
        },
    }
    for name, what, topic in [
        ("search_memory", "Searches the notes the user saved earlier.", "something they wrote down"),
        ("search_web", "Searches the public web and returns titles and links.", "news or facts"),
        ("get_weather", "Returns today's forecast for a city.", "the weather"),
    ]
]


# ------------------------------------------------------------------ no server: the arithmetic


def test_tool_spec_takes_what_a_template_renders() -> None:
    assert tool_spec({"max_tokens": 8}) is None and tool_spec({"tools": []}) is None
    assert tool_spec({"tools": TOOLS}) == {"tools": TOOLS}
    assert tool_spec({"tools": TOOLS, "tool_choice": "none", "temperature": 0}) == {
        "tools": TOOLS,
        "tool_choice": "none",
    }


def test_tools_are_estimated_with_a_wide_bound_until_an_answer_teaches_their_cost() -> None:
    counter = nx.EstimateCounter()
    msgs = history(1)
    spec = tool_spec({"tools": TOOLS})
    plain, with_tools = counter.count_messages(msgs), counter.count_messages(msgs, spec)
    schemas = counter.count_text(json.dumps(spec, sort_keys=True))
    assert with_tools.upper - plain.upper >= schemas + TOOLS_PREAMBLE  # the JSON and the template's words, and more
    assert with_tools.tokens - with_tools.error == plain.tokens - plain.error  # or nothing: a template may omit them
    assert counter.count_chat(msgs, spec) == with_tools
    counter.learn_tools(spec, 240, 3)
    assert counter.tool_tokens(spec) == (240, 3)
    counter.learn_tools(spec, 200, 3)  # a smaller reading never lowers what the budget leaves room for
    assert counter.tool_tokens(spec) == (240, 3)
    # tool_choice is rendered too (some templates leave the tools out for "none"): learned apart
    assert counter.tool_tokens(tool_spec({"tools": TOOLS, "tool_choice": "none"})) != (240, 3)


def test_a_fit_leaves_room_for_the_tools() -> None:
    counter = nx.EstimateCounter()
    msgs = history(12)
    spec = tool_spec({"tools": TOOLS})
    budget = nx.ContextBudget(context_window=1200, max_tokens=64)
    plain, with_tools = budget.fit(msgs, counter), budget.fit(msgs, counter, tools=spec)
    assert len(with_tools.dropped) > len(plain.dropped)
    assert with_tools.count.upper <= budget.max_input_tokens
    assert with_tools.count.tokens - counter.count_messages(with_tools.messages).tokens == counter.tool_tokens(spec)[0]
    with pytest.raises(nx.BudgetExceeded):  # the tools alone leave no room for the question
        nx.ContextBudget(context_window=400, max_tokens=64).fit(msgs, counter, tools=spec)


# ------------------------------------------------------------------ llama.cpp's own server: exact
# Started with a template that renders tools (SmolLM2's own has none: there, tools cost nothing, and are counted so).


@pytest.fixture
def llama(llama_tools_server: str) -> Iterator[nx.Provider]:
    p = nx.Provider(name="llama-server", base_url=llama_tools_server)
    yield p
    p.close()


def test_llama_server_counts_the_tools_through_its_template_exactly(llama: nx.Provider) -> None:
    counter = nx.counter_for(llama)
    chat = [{"role": "user", "content": "Find my note about rivers."}]
    for params in ({"tools": TOOLS}, {"tools": TOOLS[:1], "tool_choice": "required"}, {"tools": TOOLS[1:]}):
        count = counter.count_chat(chat, tool_spec(params))
        assert count.exact and count.method is nx.CountMethod.SERVER_TEMPLATE
        assert count.tokens > counter.count_chat(chat).tokens  # the schemas are in the prompt
        served = llama.chat(chat, max_tokens=1, **params)
        assert served.usage.prompt_tokens == count.tokens


def test_a_guard_fits_a_long_history_and_its_tools_into_llama_servers_window(llama: nx.Provider) -> None:
    """Without counting the tools, this history was fitted to the last token and the server refused it (the
    minimal cut fits to the last token; the stable cut leaves room that would hide the tools' cost)."""
    msgs = history(400)
    guard = nx.ContextGuard(llama, cut="minimal")
    plain = guard.prepare(msgs, {"max_tokens": 32})
    r = guard.chat(msgs, tools=TOOLS, max_tokens=32)
    assert r.usage.prompt_tokens + 32 <= LLAMA_SERVER_CTX and not r.prompt_truncated
    assert r.prompt_tokens_sent == r.usage.prompt_tokens  # exact: the tools were counted as the server laid them out
    assert r.dropped_messages > plain.dropped
    with pytest.raises(nx.ContextOverflow):  # what the guard prevents: the history fitted without its tools
        llama.chat(plain.messages, tools=TOOLS, max_tokens=32)


# ------------------------------------------------------------------ the embedded server: estimated, then learned


@pytest.mark.parametrize("choice", ["none", "auto"])
def test_the_embedded_server_teaches_the_guard_what_the_tools_cost(provider: nx.Provider, choice: str) -> None:
    """llama-cpp-python leaves the tools out of the prompt for ``tool_choice="none"`` and sums several completions'
    prompts when it calls one: the estimate admits the first, and an answer that calls a tool teaches nothing."""
    guard = nx.ContextGuard(provider)
    msgs = [{"role": "user", "content": "Find my note about rivers."}]
    params = {"tools": TOOLS, "tool_choice": choice, "max_tokens": 8}
    first = guard.prepare(msgs, params)
    assert first.count is not None and first.counter is not None  # estimated: this server does not lay out chats
    r = guard.chat(msgs, **params)
    served = r.usage.prompt_tokens
    assert served is not None and not r.prompt_truncated
    second = guard.prepare(msgs, params)
    assert second.count is not None
    if r.tool_calls:
        assert second.count == first.count
    else:
        assert first.count.tokens - first.count.error <= served <= first.count.upper
        assert second.count.tokens - second.count.error <= served <= second.count.upper
        assert second.count.error < first.count.error  # what is left is the messages' own bound
