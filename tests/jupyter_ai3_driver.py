"""Run by tests/test_jupyter_ai3.py inside jupyter-ai 3's own venv: jupyter-ai's persona entry points are read
as its PersonaManager reads them, the kit's persona is loaded and put in a real jupyterlab-chat document (a
YChat), a user's message is posted to it, and the persona answers it. Prints one JSON object: the personas
listed, the persona's id and name, and the bodies of its messages in the chat."""

from __future__ import annotations

import asyncio
import json
import sys
from importlib.metadata import entry_points

from jupyter_ai_persona_manager import BasePersona
from jupyter_ai_persona_manager.persona_manager import EPG_NAME
from jupyterlab_chat.models import NewMessage, User
from jupyterlab_chat.ychat import YChat


async def main(questions: list[str]) -> None:
    """On one event loop, as in the Jupyter server."""
    found = entry_points(group=EPG_NAME)
    persona_class = found["nxs"].load()
    assert issubclass(persona_class, BasePersona)
    chat = YChat()
    persona = persona_class(chat=chat)
    chat.set_user(User(username="me", name="me", display_name="me"))
    for question in questions:  # one after the other, as a person types them: each answer is in the next's history
        asked = chat.add_message(NewMessage(body=question, sender="me"))
        await persona.process_message(chat.get_message(asked))
    answers = [m.body for m in chat.get_messages() if m.sender == persona.id]
    print(json.dumps({"listed": sorted(ep.name for ep in found), "id": persona.id, "name": persona.name,
                      "answers": answers}))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
