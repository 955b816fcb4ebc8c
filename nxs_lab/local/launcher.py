"""Subprocess entry point of the embedded server: ``python -m nxs_lab.local.launcher SPEC.json``.

It serves llama-cpp-python's own OpenAI-compatible FastAPI app, but builds the
models itself, for two reasons the stock server cannot meet:

* the embedding alias needs ``pooling_type`` (mean), or a causal model like
  SmolLM2 returns one vector per *token* from ``/v1/embeddings``;
* the stock proxy keeps one model in memory and reloads on every alias switch;
  here every alias stays loaded (they are small) or loads once on first use.

The listening socket is created by the parent and inherited (``fd`` in the
spec), so the port is known before this process starts and nothing races for
it. The API key, if any, arrives in the ``NXS_LAB_SERVER_KEY`` environment
variable, never on the command line. The process exits when its parent dies.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from typing import Any

from nxs_lab.local.protocol import KEY_ENV


def _build(spec: dict[str, Any]) -> Any:
    import llama_cpp

    class CountingLlama(llama_cpp.Llama):
        """A llama that counts how much of each prompt it reused from its cache (the prefix it already holds) and
        how much it evaluated: running totals, served at ``/nxs/metrics`` as llama-server's ``/metrics`` serves
        its own. (The replies cannot say it: llama-cpp-python's response model drops fields it does not declare.)"""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.totals = {
                "prompt_tokens_total": 0,
                "prompt_tokens_cached_total": 0,
                "prompt_tokens_evaluated_total": 0,
            }
            self._prompt_n: int | None = None  # the prompt of the generation begun, until its first evaluation

        def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
            tokens = list(tokens)
            self._prompt_n = len(tokens)
            return super().generate(tokens, *args, **kwargs)

        def eval(self, tokens: Any) -> None:
            if self._prompt_n is not None:  # the first evaluation of a generation: what of its prompt is new
                n, evaluated = self._prompt_n, len(tokens)
                self._prompt_n = None
                self.totals["prompt_tokens_total"] += n
                self.totals["prompt_tokens_cached_total"] += max(0, n - evaluated)
                self.totals["prompt_tokens_evaluated_total"] += evaluated
            super().eval(tokens)

    common = dict(
        model_path=spec["path"],
        n_ctx=spec["n_ctx"],
        n_threads=spec.get("n_threads"),
        n_threads_batch=spec.get("n_threads"),
        verbose=False,
    )
    if spec["kind"] == "embedding":
        return llama_cpp.Llama(**common, embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN)
    chat_format = spec.get("chat_format") or "chatml-function-calling"
    if chat_format == "chatml-function-calling":  # the same handler, hearing the user's text (see chat_format.py)
        from nxs_lab.local.chat_format import unescaped_chatml_function_calling

        return CountingLlama(**common, chat_handler=unescaped_chatml_function_calling())
    return CountingLlama(**common, chat_format=chat_format)


class KitProxy:
    """Stands in for llama-cpp-python's ``LlamaProxy``: alias → a model kept in memory."""

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        self.specs = {s["alias"]: s for s in specs}
        self.default = specs[0]["alias"]
        self.loaded: dict[str, Any] = {}
        for s in specs:
            if s.get("preload", True):
                self.loaded[s["alias"]] = _build(s)

    def __call__(self, model: str | None = None) -> Any:
        alias = model if model is not None and model in self.specs else self.default
        if alias not in self.loaded:
            self.loaded[alias] = _build(self.specs[alias])
        return self.loaded[alias]

    def __iter__(self):
        return iter(self.specs)

    def __getitem__(self, model: str) -> dict[str, Any]:
        return dict(self.specs[model])

    def free(self) -> None:
        for llama in self.loaded.values():
            llama.close()
        self.loaded.clear()

    def describe(self) -> list[dict[str, Any]]:
        from nxs_lab.quant.gguf import file_type_name

        out = []
        for alias, s in self.specs.items():
            info: dict[str, Any] = {
                "id": alias,
                "kind": s["kind"],
                "n_ctx": s["n_ctx"],
                "file": os.path.basename(s["path"]),  # never the absolute path: it names the user's home
                "size_bytes": os.path.getsize(s["path"]),
                "loaded": alias in self.loaded,
            }
            llama = self.loaded.get(alias)
            if llama is not None:
                ftype = llama.metadata.get("general.file_type")
                if ftype is not None and ftype.isdigit():
                    info["quantization"] = file_type_name(int(ftype))
                arch = llama.metadata.get("general.architecture", "")
                trained = llama.metadata.get(f"{arch}.context_length", "")
                if trained.isdigit():
                    info["n_ctx_train"] = int(trained)
            out.append(info)
        return out


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)  # the kit that started us is gone: leave nothing behind
        time.sleep(0.5)


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as fh:
        spec = json.load(fh)
    threading.Thread(target=_watch_parent, args=(spec["parent_pid"],), daemon=True).start()

    import uvicorn
    from llama_cpp.server import app as app_module
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    if not hasattr(app_module, "_llama_proxy"):
        raise SystemExit(
            "this llama-cpp-python has no llama_cpp.server.app._llama_proxy: the embedded server supports 0.3.x"
        )
    first = spec["models"][0]
    # The key is checked by the front door (in constant time), not by llama-cpp-python's own comparison.
    # interrupt_requests (llama-cpp-python's default: on) ends a stream, without a finish reason, the moment another
    # request arrives: a panel and a runbook on the same server would cut each other's answers. Off, they queue.
    server_settings = ServerSettings(host=spec["host"], port=spec["port"], api_key=None, interrupt_requests=False)
    # create_app wants a model; a vocabulary-only load is cheap, and is replaced below.
    app = app_module.create_app(
        server_settings=server_settings,
        model_settings=[ModelSettings(model=first["path"], model_alias=first["alias"], vocab_only=True, verbose=False)],
    )
    if app_module._llama_proxy is not None:
        app_module._llama_proxy.free()
    proxy = KitProxy(spec["models"])
    # get_llama_proxy() reads this module global per request, and the streaming paths call it directly, so a
    # FastAPI dependency override would not reach them. A private name: checked above, and the version is pinned.
    app_module._llama_proxy = proxy  # type: ignore[assignment]

    @app.get("/nxs/metrics")
    def nxs_metrics() -> dict[str, Any]:
        """Per loaded chat model: prompt tokens received, reused from the cache, and evaluated (running totals)."""
        return {alias: dict(m.totals) for alias, m in proxy.loaded.items() if hasattr(m, "totals")}

    @app.get("/nxs/models")
    def nxs_models() -> dict[str, Any]:
        """The kit's own description of what this server carries (kind, window, quantization)."""
        return {"server": "nxs_lab embedded llama-cpp-python", "models": proxy.describe()}

    from nxs_lab._net import is_loopback
    from nxs_lab.local.frontdoor import FrontDoor

    door = FrontDoor(app, loopback_only=is_loopback(spec["host"]), api_key=os.environ.get(KEY_ENV) or None)
    sock = socket.socket(fileno=spec["fd"])
    config = uvicorn.Config(door, log_level=spec.get("log_level", "warning"), access_log=False)
    server = uvicorn.Server(config)
    print(f"nxs_lab embedded server ready on {spec['host']}:{spec['port']}", flush=True)
    server.run(sockets=[sock])
    proxy.free()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
