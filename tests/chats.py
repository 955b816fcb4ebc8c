"""Chats the tests send: a long history to fit, trim or overflow."""

from __future__ import annotations

from nxs_lab.testing.texts import TRICKY, code_review

__all__ = ["TRICKY", "code_review", "history"]


def history(turns: int) -> list[dict[str, str]]:
    """A system prompt, ``turns`` question-and-answer pairs of about 40 tokens each, and a last question."""
    msgs = [{"role": "system", "content": "You answer in one short sentence."}]
    for i in range(turns):
        msgs.append({"role": "user", "content": f"Question {i}: what do rivers, lakes and seas have in common? " * 3})
        msgs.append(
            {"role": "assistant", "content": f"Answer {i}: they all hold water that moves and evaporates. " * 3}
        )
    msgs.append({"role": "user", "content": "Name one river."})
    return msgs
