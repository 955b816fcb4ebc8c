"""A kit of real misbehaving servers on loopback, for tests, drills and benchmarks.

Each :class:`FaultServer` is a real HTTP server on ``127.0.0.1`` (a free port),
run by an asyncio loop in one background thread, that misbehaves in one chosen
way. It speaks just enough of the OpenAI API (``/v1/models``,
``/v1/chat/completions`` with and without ``stream``, ``/v1/embeddings``) for
the ``OK`` mode to be a fast healthy stub::

    >>> from nxs_lab.testing.faults import Fault, FaultServer
    >>> with FaultServer(Fault.HANG) as hung:           # doctest: +SKIP
    ...     Provider(name="hung", base_url=hung.base_url).chat(...)   # ResponseTimeout

Stopping it closes every connection, wakes every hung handler and joins the
thread: nothing leaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import gzip
import io
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .replies import THOUGHT, broken_stream, chunk, completion, usage_chunk

__all__ = ["LOOKALIKES", "Fault", "FaultServer", "FaultSpec", "fault_process"]


class Fault(str, enum.Enum):
    OK = "ok"  # a fast, healthy OpenAI-compatible stub
    REFUSE = "refuse"  # nothing listens: connections are refused
    BLACKHOLE = "blackhole"  # a full accept queue: a connect never completes (a filtered port)
    HANG = "hang"  # accepts, reads the request, never answers
    DRIP = "drip"  # answers 200, then sends the body one byte per `drip_interval`
    STATUS = "status"  # answers `status` with `body` and `headers` (500, 503 + Retry-After, 429, 401, 404…)
    MALFORMED_JSON = "malformed-json"  # 200 with a body that is not JSON
    HTML_200 = "html-200"  # 200 with an HTML page (a captive portal, a proxy's login page)
    SSE_CUT = "sse-cut"  # streams `cut_after` chunks, then drops the connection
    REDIRECT = "redirect"  # `status` (302 by default: a captive portal's login page) with a Location header
    NESTED_JSON = "nested-json"  # 200 with JSON nested deeper than any decoder's stack
    FLAKY = "flaky"  # answers `status` to the first `fail_times` calls (POSTs), then behaves like OK
    BODY_DRIP = "body-drip"  # headers at once, then the body one byte per `drip_interval` (DRIP drips the headers too)
    HUGE_BODY = "huge-body"  # 200 whose JSON body is `huge_bytes` long (a chat answer that never ends)
    HUGE_ERROR = "huge-error"  # `status` (500) whose error message is `huge_bytes` long
    GZIP_BOMB = "gzip-bomb"  # 200, content-encoding gzip: a small body that expands to `huge_bytes`
    ENDLESS_STREAM = "endless-stream"  # a stream whose chunks keep coming (every `chunk_interval`) and never finish
    LONE_SURROGATE = "lone-surrogate"  # a healthy reply whose text holds a lone UTF-16 surrogate (\ud800)
    # Streams that real servers send (each answers 200 and text/event-stream):
    STREAM_ERROR = "stream-error"  # an error event and nothing else (LM Studio, LiteLLM's proxy, llama.cpp)
    EMPTY_STREAM = "empty-stream"  # only a usage chunk, then [DONE]: no text, no finish reason (LM Studio)
    EMPTY_STOP = "empty-stop"  # finish_reason "stop" with no text and no usage (LiteLLM #36768: a failed upstream)
    LEAKED_FRAME = "leaked-frame"  # an OpenAI-shaped error frame, then the fallback's answer (LiteLLM PR #30914)


_MODEL = "stub-model"

# Servers that pass for a known kind and then answer with the wrong shapes (``routes=`` for an OK server):
# discovery and the catalogue must turn each into a note or an InvalidResponse, never an exception of Python's.
LOOKALIKES: dict[str, dict[str, Any]] = {
    # LM Studio's /api/v0/models with an entry that has no id
    "lmstudio-no-id": {"/api/v0/models": {"object": "list", "data": [{"state": "loaded", "type": "llm"}]}},
    # Ollama's /api/tags whose models are numbers
    "ollama-number-models": {"/api/version": {"version": "0.9.0"}, "/api/tags": {"models": [5]}},
    # llama.cpp's /props with a window that is not a number
    "llamacpp-text-window": {"/props": {"default_generation_settings": {"n_ctx": "lots"}, "build_info": "b1"}},
}


def _response(
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    keep_alive: bool = False,
    length: int | None = None,
) -> bytes:
    """A whole HTTP/1.1 reply; with ``length``, only its head (the body follows separately)."""
    reason = {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }.get(status, "Status")
    head = [
        f"HTTP/1.1 {status} {reason}",
        f"content-type: {content_type}",
        f"content-length: {len(body) if length is None else length}",
        "connection: " + ("keep-alive" if keep_alive else "close"),
    ]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """How a :class:`FaultServer` misbehaves (see its arguments)."""

    mode: Fault = Fault.OK
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drip_interval: float = 0.5
    cut_after: int = 3
    chunk_interval: float = 0.0
    fail_times: int = 1
    model: str = _MODEL
    prompt_tokens: int = 5
    routes: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    reasoning: str | None = None
    per_token_embeddings: bool = False
    answer: str | None = None
    huge_bytes: int = 300 * 2**20
    drop_reused: bool = False


@functools.lru_cache(maxsize=4)
def _gzip_bomb(size: int) -> bytes:
    """``size`` bytes of a JSON string, gzipped (about a thousandth of ``size``)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(b'{"object": "list", "data": "')
        block = b"a" * 2**20
        for _ in range(size // len(block)):
            gz.write(block)
        gz.write(b'"}')
    return out.getvalue()


class FaultServer:
    """A real server on loopback that misbehaves as ``mode`` says.

    Args:
        mode: the :class:`Fault`.
        status, body, headers: what ``STATUS`` / ``FLAKY`` answer (``body`` a dict is sent as JSON).
        drip_interval: seconds between bytes in ``DRIP`` and ``BODY_DRIP`` modes.
        huge_bytes: the body size of ``HUGE_BODY``, ``HUGE_ERROR`` and (expanded) ``GZIP_BOMB``.
        cut_after: chunks sent before ``SSE_CUT`` drops the connection.
        chunk_interval: seconds between stream chunks (all streaming modes).
        fail_times: failed calls (POST requests: chat, completions, embeddings) before ``FLAKY`` recovers;
            the GETs a client sends to learn the server's kind are answered as ``OK`` would.
        model: the model id the stub serves.
        prompt_tokens: the ``usage.prompt_tokens`` the stub reports, whatever was sent (set it low to
            play a server that silently cuts long prompts, as Ollama does).
        routes: extra ``{path: payload}`` answered with 200 JSON (``{path: (status, payload)}`` for
            another status), e.g. to stand in for a server kind's native endpoints.
        fingerprint: the ``system_fingerprint`` of its replies (``"fp_ollama"`` is how Ollama's say who it is).
        reasoning: where a reasoning model's thinking goes: ``"reasoning_content"``, ``"reasoning"``,
            ``"think"`` (inline ``<think>…</think>``) or ``"opened"`` (inline ``…</think>``: the template opened
            the block), in replies and streams (see ``THOUGHT``).
        per_token_embeddings: answer embeddings with one vector per token (a server run without pooling).
        answer: the chat answer's text (streamed a few characters a chunk) instead of the stub's own words.
        drop_reused: close a kept-alive connection, unanswered, when a second request arrives on it: a keep-alive
            timeout that expires just as the client reuses the connection (uvicorn's is 5 s), every time.
        host, port_request: where to listen (``port_request=0``: a free port).
    """

    def __init__(
        self, mode: Fault = Fault.OK, *, host: str = "127.0.0.1", port_request: int = 0, **behaviour: Any
    ) -> None:
        self.spec = FaultSpec(mode=Fault(mode), **behaviour)
        self.host = host
        self.port_request = port_request
        self.port: int | None = None
        self.requests = 0  # how many requests it has read
        self.calls = 0  # how many of them were POSTs (calls, not probes)
        self.seen_headers: list[dict[str, str]] = []  # each request's headers (lower-case names), the last 100
        self.connections = 0
        self.dropped = 0  # requests closed unanswered on a reused connection (drop_reused)
        self.last_body: dict[str, Any] = {}  # the JSON body of the last POST
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._stop: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._held: list[socket.socket] = []  # BLACKHOLE's listener and the connections filling its queue
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the fault server is not started")
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FaultServer:
        if self.spec.mode is Fault.BLACKHOLE:
            # Listen with no room in the accept queue, then fill it: the kernel drops further SYNs.
            self._held = [socket.socket()]
            self._held[0].bind((self.host, self.port_request))
            self._held[0].listen(0)
            self.port = self._held[0].getsockname()[1]
            for _ in range(3):
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex((self.host, self.port))
                self._held.append(filler)
            return self
        if self.spec.mode is Fault.REFUSE:
            # Reserve a port number, then close it: connecting there is refused.
            s = socket.socket()
            s.bind((self.host, 0))
            self.port = s.getsockname()[1]
            s.close()
            return self
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve(ready))
            except BaseException as exc:  # noqa: BLE001 - handed to start() and re-raised there
                errors.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"fault-{self.spec.mode.value}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, self.host, self.port_request, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        await self._stop.wait()
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        await self._server.wait_closed()
        # Handlers see the stop event (or their aborted connection) and return on their own;
        # cancelling them would make asyncio log their CancelledError.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def stop(self) -> None:
        """Close the listener and every connection, wake hung handlers, join the thread."""
        for sock in self._held:
            sock.close()
        self._held = []
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    # ----------------------------------------------------------------- handler

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = (lines[0].split(" ") + ["", ""])[:3]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
        return method, path, headers, body

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with self._lock:
            self.connections += 1
        try:
            keep_alive, served = True, 0
            while keep_alive and not self._stopping:
                req = await self._read_request(reader)
                if req is None:
                    return
                served += 1
                if served > 1 and self.spec.drop_reused:
                    with self._lock:
                        self.requests += 1
                        self.dropped += 1
                    return  # closed as the request arrived: a keep-alive timeout that expired just then
                with self._lock:
                    self.requests += 1
                    self.calls += req[0] == "POST"
                    n = self.calls
                    self.seen_headers = [*self.seen_headers[-99:], req[2]]
                keep_alive = await self._respond(n, req, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: that is the client's business, not a server fault
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    async def _respond(self, n: int, req: tuple[str, str, dict[str, str], bytes], writer: asyncio.StreamWriter) -> bool:
        """Answer one request; True when the connection may carry another (healthy JSON replies only)."""
        method, path, headers, body = req
        keep = headers.get("connection", "").lower() != "close"
        mode = self.spec.mode
        if mode is Fault.FLAKY:
            mode = Fault.STATUS if method == "POST" and n <= self.spec.fail_times else Fault.OK
        if method == "POST" and path in self.spec.routes:  # a canned reply: still keep what was asked
            self.last_body = _json_or_raw(body)
        canned = self._canned(path, mode, keep)
        if canned is not None:
            reply, again = canned
            writer.write(reply)
            await writer.drain()
            return again
        if mode is Fault.HANG:
            assert self._stop is not None
            await self._stop.wait()
            return False
        if mode in (Fault.HUGE_BODY, Fault.HUGE_ERROR):
            await self._huge(mode, writer)
            return False
        request = json.loads(body or b"{}") if method == "POST" else {}
        if method == "POST":
            self.last_body = request
        model = request.get("model") or self.spec.model
        if path == "/api/chat":  # Ollama's native chat: one JSON reply, or NDJSON lines when streaming
            await self._ollama_chat(model, bool(request.get("stream")), writer)
            return False
        if request.get("stream") and not path.endswith(("/models", "/embeddings")):
            await self._stream(model, mode, writer)
            return False
        # Only a healthy reply keeps its connection, and its head says so: a connection said to stay open and then
        # closed makes the client's next request on it race the close (reset by peer, under load).
        keep = keep and mode is Fault.OK
        reply = self._healthy(path, request, model, keep, mode)
        if mode in (Fault.DRIP, Fault.BODY_DRIP):
            if mode is Fault.BODY_DRIP:
                head, _, rest = reply.partition(b"\r\n\r\n")
                writer.write(head + b"\r\n\r\n")
                reply = rest
            await self._drip(reply, writer)
            return False
        writer.write(reply)
        await writer.drain()
        return keep

    def _canned(self, path: str, mode: Fault, keep: bool) -> tuple[bytes, bool] | None:
        """A reply that does not depend on the request (a route, or a fault that answers the same to all),
        and whether the connection may carry another; ``None`` when the request decides."""
        spec = self.spec
        if path in spec.routes:
            route = spec.routes[path]
            status, payload = route if isinstance(route, tuple) else (200, route)
            return _response(status, json.dumps(payload).encode(), keep_alive=keep), keep
        if mode is Fault.STATUS:
            payload = spec.body if spec.body is not None else {"error": {"message": f"injected {spec.status}"}}
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            return _response(spec.status, raw, headers=spec.headers, keep_alive=keep), keep
        if mode is Fault.MALFORMED_JSON:
            return _response(200, b'{"id": "x", "choices": [ {"message": '), False
        if mode is Fault.REDIRECT:
            status = spec.status if 300 <= spec.status < 400 else 302
            headers = {"location": "http://captive.portal.invalid/login?next=%2Fv1", **spec.headers}
            return _response(status, b"", headers=headers, keep_alive=keep), keep
        if mode is Fault.NESTED_JSON:
            return _response(200, b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), False
        if mode is Fault.GZIP_BOMB:
            return _response(200, _gzip_bomb(spec.huge_bytes), headers={"content-encoding": "gzip"}), False
        if mode is Fault.HTML_200:
            return _response(200, b"<html><body><h1>Sign in to continue</h1></body></html>", "text/html"), False
        return None

    def _healthy(self, path: str, request: dict[str, Any], model: str, keep: bool, mode: Fault = Fault.OK) -> bytes:
        """What a healthy OpenAI-compatible server answers: the model list, embeddings, or a completion."""
        if path.endswith("/models"):
            data: dict[str, Any] = {
                "object": "list",
                "data": [{"id": self.spec.model, "object": "model", "owned_by": "faults"}],
            }
        elif path.endswith("/embeddings"):
            inputs = request.get("input", [])
            inputs = [inputs] if isinstance(inputs, str) else inputs
            if self.spec.per_token_embeddings:  # one vector per token (a llama.cpp server run without pooling)
                rows: list[Any] = [[[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]] for _ in inputs]
            else:
                rows = [[0.1, 0.2, 0.3] for _ in inputs]
            vectors = [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]
            data = {"object": "list", "model": model, "data": vectors}
        else:
            text = "stub \ud800 answer" if mode is Fault.LONE_SURROGATE else self.spec.answer or "stub answer"
            data = completion(
                model, text, self.spec.prompt_tokens, reasoning=self.spec.reasoning, fingerprint=self.spec.fingerprint
            )
        return _response(200, json.dumps(data).encode(), keep_alive=keep)

    async def _ollama_chat(self, model: str, stream: bool, writer: asyncio.StreamWriter) -> None:
        """Ollama's ``POST /api/chat`` (docs/api.md): ``message`` (with ``thinking`` for a reasoning model), ``done``,
        ``done_reason``, ``prompt_eval_count``, ``eval_count``; streamed as one JSON object per line."""
        counts = {"prompt_eval_count": self.spec.prompt_tokens, "eval_count": 6}
        thinking = {"thinking": THOUGHT} if self.spec.reasoning else {}
        last = {"model": model, "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"}
        if not stream:
            message = {"role": "assistant", "content": "stub answer", **thinking}
            reply = {**last, "message": message, **counts}
            writer.write(_response(200, json.dumps(reply).encode()))
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\n")
        parts = [{"role": "assistant", "content": "", **thinking}] if thinking else []
        parts += [{"role": "assistant", "content": w} for w in ("one ", "two ", "three ")]
        for message in parts:
            writer.write(json.dumps({"model": model, "message": message, "done": False}).encode() + b"\n")
            await writer.drain()
        writer.write(json.dumps({**last, **counts}).encode() + b"\n")
        await writer.drain()

    async def _huge(self, mode: Fault, writer: asyncio.StreamWriter) -> None:
        """A body of ``huge_bytes``, written a MiB at a time (never held in memory whole)."""
        size = self.spec.huge_bytes
        if mode is Fault.HUGE_BODY:
            status, head, tail = 200, b'{"id": "x", "object": "chat.completion", "choices": [{"text": "', b'"}]}'
        else:
            status, head, tail = self.spec.status, b'{"error": {"message": "', b'"}}'
        length = len(head) + size + len(tail)
        writer.write(_response(status, head, length=length))
        block = b"a" * 2**20
        for start in range(0, size, len(block)):
            if self._stopping:
                return
            writer.write(block[: min(len(block), size - start)])
            await writer.drain()
        writer.write(tail)
        await writer.drain()

    async def _drip(self, reply: bytes, writer: asyncio.StreamWriter) -> None:
        """Send ``reply`` one byte per ``drip_interval`` (a server, or a proxy, that trickles)."""
        for i in range(len(reply)):
            if self._stopping:
                return
            writer.write(reply[i : i + 1])
            await writer.drain()
            await asyncio.sleep(self.spec.drip_interval)

    async def _shaped_stream(self, model: str, mode: Fault, writer: asyncio.StreamWriter, words: list[str]) -> None:
        """The 200 streams real servers send when something went wrong upstream (see :func:`broken_stream`)."""
        writer.write(broken_stream(mode.value, model, self.spec.prompt_tokens, words))
        await writer.drain()

    async def _stream(self, model: str, mode: Fault, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
        await writer.drain()
        words = ["one ", "two ", "three ", "four ", "five ", "six "]
        if self.spec.answer:
            words = [self.spec.answer[i : i + 6] for i in range(0, len(self.spec.answer), 6)]
        interval = self.spec.drip_interval if mode is Fault.DRIP else self.spec.chunk_interval
        if mode in _SHAPED_STREAMS:
            await self._shaped_stream(model, mode, writer, words)
            return
        if mode is Fault.ENDLESS_STREAM:
            while not self._stopping:
                writer.write(chunk(model, "more "))
                await writer.drain()
                await asyncio.sleep(interval or 0.01)
            return
        fp = self.spec.fingerprint
        reasoning = self.spec.reasoning
        if reasoning == "think":
            words = ["<th", "ink>", THOUGHT, "</think>", "\n\n", *words]
        elif reasoning == "opened":
            words = [THOUGHT, "</th", "ink>", "\n\n", *words]
        elif reasoning is not None:
            for part in (THOUGHT, THOUGHT):
                writer.write(chunk(model, part, field=reasoning, fingerprint=fp))
        for i, word in enumerate(words):
            if self._stopping:
                return
            if mode is Fault.SSE_CUT and i == self.spec.cut_after:
                writer.transport.abort()  # drop the connection mid-stream, no terminating chunk
                return
            writer.write(chunk(model, word, fingerprint=fp))
            await writer.drain()
            if interval:
                await asyncio.sleep(interval)
        writer.write(chunk(model, None, "stop", fingerprint=fp))
        usage = completion(model, prompt_tokens=self.spec.prompt_tokens, reasoning=self.spec.reasoning)["usage"]
        writer.write(usage_chunk(model, usage))
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()


_SHAPED_STREAMS = (Fault.STREAM_ERROR, Fault.EMPTY_STREAM, Fault.EMPTY_STOP, Fault.LEAKED_FRAME)


def _json_or_raw(body: bytes) -> dict[str, Any]:
    """A request body as JSON, or ``{"raw": …}`` when it is not JSON (a canned route answers either)."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {"raw": body[:1000].decode("utf-8", "replace")}
    return data if isinstance(data, dict) else {"raw": data}


@contextlib.contextmanager
def fault_process(mode: Fault | str, *args: str) -> Iterator[str]:
    """Run a fault server in its own process (off the caller's GIL, for timing); yields its base_url."""
    cmd = [sys.executable, "-m", "nxs_lab.testing.faults", Fault(mode).value, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the fault process did not start: {' '.join(cmd)}")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    """``python -m nxs_lab.testing.faults MODE [--status N] …``: serve one fault in its own process until stopped.

    A separate process keeps the server off the caller's GIL, which matters when timing the caller.
    """
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m nxs_lab.testing.faults")
    parser.add_argument("mode", choices=[f.value for f in Fault])
    parser.add_argument("--status", type=int, default=500)
    parser.add_argument("--retry-after")
    parser.add_argument("--cut-after", type=int, default=3)
    parser.add_argument("--drip-interval", type=float, default=0.5)
    parser.add_argument("--chunk-interval", type=float, default=0.0)
    parser.add_argument("--fail-times", type=int, default=1)
    parser.add_argument("--huge-bytes", type=int, default=300 * 2**20)
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address to listen on")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    args = parser.parse_args(argv)
    headers = {"retry-after": args.retry_after} if args.retry_after else {}
    server = FaultServer(
        Fault(args.mode),
        status=args.status,
        headers=headers,
        cut_after=args.cut_after,
        drip_interval=args.drip_interval,
        chunk_interval=args.chunk_interval,
        fail_times=args.fail_times,
        huge_bytes=args.huge_bytes,
        host=args.host,
        port_request=args.port,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a user stops it by hand
            stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
