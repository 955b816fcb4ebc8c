"""The count is what the server sees (issue 26): the embedded server is sent the characters typed, and a count the
server contradicts is corrected by its first answer or its first refusal, never an overflow reaching the user.

Against the real embedded server, a stock llama-cpp-python server started with ``--chat_format
chatml-function-calling`` as its users start it for tools (its template HTML-escapes every prompt), and llama.cpp's
llama-server; the pure learning step by table."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer, foreign
from nxs_lab.tokens.count import CountCorrection, CountMethod, TokenCounter, html_escaped

from .chats import TRICKY, code_review

pytestmark = pytest.mark.timeout(600)

ESCAPING_CTX = 1024


# ------------------------------------------------------------------ the learning step, pure


class Chars(TokenCounter):
    """A counter that is exact for a server counting one token per character (the test's own "server")."""

    method = CountMethod.SERVER

    def _count(self, text: str) -> int:
        return len(text)


MEASURED = nx.ChatOverhead(per_role={"user": 3, "system": 3, "assistant": 3}, reply=2, source="measured")
CHAT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": 'say "hi" <b> & ok'}]


def _server_count(messages: list[dict[str, str]], rewrite) -> int:
    return 2 + sum(3 + len(rewrite(m["content"])) for m in messages)


@pytest.mark.parametrize(
    ("server", "learned"),
    [
        (lambda t: t, None),  # the count held: nothing learned
        (html_escaped, CountCorrection(rewrite="html-escaped")),  # the server escapes: counted as it renders
        (lambda t: t * 2, "ratio"),  # rewrites it some other way: the ratio, measured, with an error bound
    ],
    ids=["exact", "escapes", "doubles"],
)
def test_a_count_the_server_contradicts_is_corrected(server, learned) -> None:
    c = Chars(MEASURED)
    truth = _server_count(CHAT, server)
    got = c.learn_from_usage(CHAT, None, truth)
    after = c.count_messages(CHAT)
    if learned is None:
        assert got is None and after.correction == ""
    elif learned == "ratio":
        assert got is not None and got.rewrite is None and got.ratio > 1.5
        assert after.tokens - after.error <= truth <= after.upper and not after.exact
        assert "as the server counted it" in after.label()
    else:
        assert got == learned and after.tokens == truth and after.correction
        other = [{"role": "user", "content": "if a < b && c > 'd': pass"}]  # a new prompt, counted as sent
        assert c.count_messages(other).tokens == _server_count(other, html_escaped)


def test_fewer_tokens_than_counted_teach_nothing() -> None:
    """A server that saw fewer tokens cut the prompt (the truncation flag's business), it did not count better."""
    c = Chars(MEASURED)
    assert c.learn_from_usage(CHAT, None, 3) is None and c.correction is None


# ------------------------------------------------------------------ the embedded server hears the text typed


def test_the_embedded_server_counts_what_was_typed(local_server: nx.LocalServer) -> None:
    """Quotes, <, >, &, backslashes, JSON, HTML and other scripts: the kit's count is the server's
    ``usage.prompt_tokens``, to the token, and a tool's result reaches the model (it is counted as sent)."""
    with local_server.provider() as p:
        counter = nx.counter_for(p)
        for text in TRICKY:
            chat = [{"role": "user", "content": text}]
            sent = counter.count_chat(chat)
            seen = p.chat(chat, max_tokens=1, temperature=0).usage.prompt_tokens
            assert seen == sent.tokens, (text, sent.label(), seen)
            assert counter.correction is None
        call = {"id": "c1", "type": "function", "function": {"name": "search_memory", "arguments": '{"query": "x"}'}}
        with_tool = [
            {"role": "user", "content": "What do my notes say?"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": 'The note says "<b>rivers</b> & seas".'},
            {"role": "user", "content": "Thanks."},
        ]
        without = with_tool[:1] + with_tool[3:]
        grew = p.chat(with_tool, max_tokens=1, temperature=0).usage.prompt_tokens
        base = p.chat(without, max_tokens=1, temperature=0).usage.prompt_tokens
        assert grew is not None and base is not None
        # the tool's result is in the prompt, as typed (escaped it would cost several tokens more)
        result_tokens = counter.count_text('The note says "<b>rivers</b> & seas".')
        assert grew - base >= result_tokens


# ------------------------------------------------------------------ a stock server that escapes


@pytest.fixture(scope="module")
def escaping_server() -> Iterator[str]:
    with foreign.stock_llama_cpp_python(ESCAPING_CTX, embedding=False, chat_format="chatml-function-calling") as url:
        yield url


def _stock(url: str, name: str = "stock") -> nx.Provider:
    # its window is configured, as a user who knows it would: the refusals below are about the count, not the window
    return nx.Provider(name=name, base_url=url, context_window=ESCAPING_CTX)


def test_the_code_review_chat_answers_through_the_guard(escaping_server: str) -> None:
    """60 turns quoting a line of code: fitted by a count that does not know the template escapes, refused with the
    server's own count, corrected, refitted and answered. The next answer's count holds within its error."""
    with _stock(escaping_server) as p:
        guard = nx.ContextGuard(p)
        history = code_review(60)
        r = guard.chat(history, max_tokens=16)
        assert r.usage.prompt_tokens is not None and r.usage.prompt_tokens + 16 <= ESCAPING_CTX
        assert r.dropped_messages > 0
        assert guard.counter.correction == CountCorrection(rewrite="html-escaped")
        again = guard.chat(code_review(58), max_tokens=16)  # another history: fitted right the first time
        assert not again.prompt_miscounted and again.prompt_tokens_sent is not None
        count = guard.counter.count_chat(guard.prepare(code_review(58), {"max_tokens": 16}).messages)
        assert abs(count.tokens - again.usage.prompt_tokens) <= count.error
        # a new guard for the same provider counts the same way: the correction is kept with the provider
        assert nx.ContextGuard(p).counter.correction == CountCorrection(rewrite="html-escaped")


def test_an_answer_teaches_the_count_and_says_it_was_off(escaping_server: str) -> None:
    with _stock(escaping_server) as p:
        guard = nx.ContextGuard(p)
        r = guard.chat([{"role": "user", "content": TRICKY[1] * 3}], max_tokens=4)
        assert r.prompt_miscounted and r.usage.prompt_tokens > r.prompt_tokens_sent
        assert any("the server saw" in part for part in r.trail())
        assert guard.counter.correction is not None


def test_the_async_guard_learns_from_the_refusal(escaping_server: str) -> None:
    async def go() -> nx.ChatResult:
        async with _stock(escaping_server).to_async() as ap:
            return await nx.AsyncContextGuard(ap).chat(code_review(60), max_tokens=16)

    r = asyncio.run(go())
    assert r.usage.prompt_tokens is not None and r.usage.prompt_tokens + 16 <= ESCAPING_CTX


def test_a_fitting_chain_and_its_stream_learn_per_provider(escaping_server: str) -> None:
    """The chain's guard for the escaping server learns from its refusal and answers, chat and stream alike (the
    stream refitted before its first token): no failover for a request that fits once counted right."""
    for op in ("chat", "stream"):
        with _stock(escaping_server, "escaping") as p, FaultServer(Fault.REFUSE) as dead:
            backup = nx.Provider(name="backup", base_url=dead.base_url, model="m")
            chain = nx.FallbackChain([p, backup], fit=True)
            if op == "chat":
                r = chain.chat(code_review(60), max_tokens=16)
            else:
                s = chain.stream(code_review(60), max_tokens=16)
                text = "".join(s)
                r = s.result
                assert r is not None and r.text == text  # what streamed is the answer, refitted before it began
            assert r is not None and r.provider == "escaping" and [a.outcome for a in r.attempts] == [nx.Outcome.OK]


def test_a_second_refusal_reaches_the_caller_with_both_counts() -> None:
    """A server that keeps refusing: the guard learns once, tries once more, then says what each side counted."""
    body = {
        "error": {
            "message": "This model's maximum context length is 512 tokens. However, you requested 900 tokens "
            "(890 in the messages, 10 in the completion)."
        }
    }
    with FaultServer(Fault.STATUS, status=400, body=body) as srv:
        p = nx.Provider(name="strict", base_url=srv.base_url, model="m", context_window=4096)
        guard = nx.ContextGuard(p, counter=nx.EstimateCounter())
        with pytest.raises(nx.ContextOverflow) as info:
            guard.chat([{"role": "user", "content": "a short question"}], max_tokens=10)
        assert srv.requests == 2
    err = info.value
    assert err.prompt_tokens == 890 and err.context_window == 512 and err.counted_tokens is not None
    assert "890" in str(err) and "by the kit's count" in str(err)


def test_llama_server_counts_stay_exact_on_tricky_text(llama_server: str) -> None:
    """llama.cpp lays the chat out itself: the kit's whole-chat count is its count, nothing to correct."""
    with nx.Provider(name="llama", base_url=llama_server) as p:
        guard = nx.ContextGuard(p)
        for text in TRICKY:
            r = guard.chat([{"role": "user", "content": text}], max_tokens=1, temperature=0)
            assert r.usage.prompt_tokens == r.prompt_tokens_sent and not r.prompt_miscounted
        assert guard.counter.correction is None
