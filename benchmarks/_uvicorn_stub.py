"""A healthy OpenAI-compatible stub served by uvicorn (as vLLM, llama-cpp-python and LiteLLM's proxy are), with a
short keep-alive: ``python benchmarks/_uvicorn_stub.py PORT KEEPALIVE_S``. Used by ``soak.py --keepalive``."""

from __future__ import annotations

import json
import sys

import uvicorn

from nxs_lab.testing.replies import completion

REPLY = json.dumps(completion("stub-model", "ok")).encode()


async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": REPLY})


if __name__ == "__main__":
    port, keepalive = int(sys.argv[1]), float(sys.argv[2])
    uvicorn.run(app, host="127.0.0.1", port=port, timeout_keep_alive=keepalive, log_level="warning")
