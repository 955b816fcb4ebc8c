"""``@nxs`` in jupyter-ai 3.x's chat: a persona (found through jupyter-ai's ``jupyter_ai.personas`` entry point,
in pyproject.toml) that answers through the kit's configured chain, with its failover and context budgets,
streaming, and says under each answer which provider answered (and after which failovers). With nothing
configured it answers through what :mod:`nxs_lab.discovery.which` finds, and says so once. jupyter-ai 2.x
users keep the model provider of :mod:`nxs_lab.ui.jupyter_ai`.

    @nxs Why is the sky blue?
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from jupyter_ai_persona_manager import BasePersona, PersonaDefaults

from ..errors import NxsLabError
from ..resilience.targets import configured

__all__ = ["NxsPersona"]

HISTORY = 20  # the chat's latest messages sent with each question (the chain fits them to each window)
MAX_TOKENS = 1024
SYSTEM = "You are a helpful assistant answering in a JupyterLab chat. Be concise; use Markdown."
_AVATAR = Path(__file__).parent / "static" / "nxs.svg"
_MENTION = re.compile(r"(^|\s)@[\w.-]+")
_FOOTER = "\n\n<sub>"  # where the persona's own line under an answer starts: not part of the conversation


class NxsPersona(BasePersona):
    """The kit in jupyter-ai 3.x's chat: ``@nxs`` asks the configured chain."""

    @property
    def defaults(self) -> PersonaDefaults:
        return PersonaDefaults(
            name="nxs",
            description="nxs_lab: your own LLM servers (LM Studio, Ollama, llama.cpp, vLLM) and cloud, with failover",
            avatar_path=str(_AVATAR),
            system_prompt=SYSTEM,
        )

    def conversation(self) -> list[dict[str, str]]:
        """The chat's latest messages as a conversation: this persona's answers (without their footer line) as the
        assistant's, everyone else's as the user's, mentions taken out."""
        out = [{"role": "system", "content": SYSTEM}]
        for m in self.chat.get_messages()[-HISTORY:]:
            if m.sender == self.id:
                out.append({"role": "assistant", "content": m.body.split(_FOOTER, 1)[0]})
            else:
                text = _MENTION.sub(" ", m.body).strip()
                if text:
                    out.append({"role": "user", "content": text})
        return out

    async def process_message(self, message: Any) -> None:
        try:
            chain = await asyncio.to_thread(configured.chain, "@nxs")  # may look for a server: off the loop
            note = configured.take_note()
            stream = chain.astream(self.conversation(), max_tokens=MAX_TOKENS)
            await self.stream_message(self._reply(stream, note))
        except NxsLabError as exc:
            self.send_message(f"**nxs**: {exc}")

    @staticmethod
    async def _reply(stream: Any, note: str | None) -> AsyncIterator[str]:
        async for text in stream:
            yield text
        result = stream.result
        said = " · ".join(result.trail()) + (f" · {note}" if note else "")
        yield f"{_FOOTER}{said}</sub>"
