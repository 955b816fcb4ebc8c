"""Print the base URL of an OpenAI-compatible server answering on this machine's usual ports, if any.

Run before anything is installed (standard library only): the quickstart uses a server that is already up
(LM Studio, Ollama, llama.cpp, vLLM or `nxs-lab serve`) instead of compiling the embedded one. Exit status 1
when none answers.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

# LM Studio, Ollama, llama.cpp's llama-server, vLLM and llama-cpp-python (`nxs-lab serve`), in that order.
PORTS = (1234, 11434, 8080, 8000)


# Straight to loopback: a proxy from the environment must not answer for this machine.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def serves_models(base_url: str) -> bool:
    try:
        with _OPENER.open(f"{base_url}/models", timeout=1.0) as reply:
            body = json.loads(reply.read(1 << 20))
    except (OSError, ValueError):  # refused, timed out, not HTTP, not JSON: not a server to use
        return False
    return isinstance(body, dict) and isinstance(body.get("data"), list) and bool(body["data"])


def main() -> int:
    for port in PORTS:
        url = f"http://127.0.0.1:{port}/v1"
        if serves_models(url):
            print(url)
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
