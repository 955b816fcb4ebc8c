"""A stdio MCP server's tools, callable from synchronous code.

The MCP client is async and its session must stay open between calls, so the
bridge keeps one event loop on a thread of its own, holds the session there,
and hands out plain functions that submit calls to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from ..defaults import TOOL_TIMEOUT
from ..errors import MissingDependency, ToolServerError

__all__ = ["MCPBridge"]


class MCPBridge:
    """Start ``command args`` as an MCP stdio server and talk to it from sync code."""

    def __init__(self, command: str, args: list[str], *, env: Mapping[str, str] | None = None) -> None:
        try:
            import mcp  # noqa: F401 - checked here so the error names the extra
        except ImportError:
            raise MissingDependency("mcp", "tools") from None
        self.command = command
        self.args = list(args)
        self.env = dict(env) if env is not None else None
        self.name = os.path.basename(args[-1] if args else command)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: Any = None
        self._stop: asyncio.Event | None = None
        self._ready: Future[list[Any]] = Future()

    def start(self, timeout: float = TOOL_TIMEOUT) -> list[Any]:
        """Start the server; return its tool list (objects with ``name``, ``description``, ``input_schema``)."""
        self._thread = threading.Thread(target=self._run, name=f"mcp-{self.name}", daemon=True)
        self._thread.start()
        try:
            return self._ready.result(timeout)
        except concurrent.futures.TimeoutError:
            self.close()
            raise ToolServerError(f"the MCP server {self.name!r} did not list its tools within {timeout:g} s") from None
        except Exception as exc:  # whatever stopped it (often an ExceptionGroup from its task group)
            raise ToolServerError(f"the MCP server {self.name!r} did not start: {_why(exc)}") from exc

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - handed to start() through the future
            if not self._ready.done():
                self._ready.set_exception(exc)
        finally:
            self._loop.close()

    async def _main(self) -> None:
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(command=self.command, args=self.args, env=self.env)
        self._stop = asyncio.Event()
        # The server's own log is not the user's business here. Opening /dev/null never blocks.
        with open(os.devnull, "w") as errlog:  # noqa: ASYNC230
            async with stdio_client(params, errlog=errlog) as streams, ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                self._session = session
                listed = await session.list_tools()
                self._ready.set_result(list(listed.tools))
                await self._stop.wait()

    async def _call(self, name: str, arguments: dict[str, Any]) -> Any:
        result = await self._session.call_tool(name, arguments)
        text = "\n".join(getattr(c, "text", str(c)) for c in getattr(result, "content", []) or [])
        if getattr(result, "is_error", False):
            raise ToolServerError(text or f"MCP tool {name} failed")
        structured = getattr(result, "structured_content", None)
        if isinstance(structured, dict) and set(structured) == {"result"}:
            return structured["result"]
        return structured if structured is not None else text

    def submit(self, name: str, arguments: dict[str, Any]) -> Future[Any]:
        """Start a call on the session's loop. Cancelling the future cancels the call in the session (which tells
        the server), so a timed-out MCP call does not run on."""
        if self._loop is None or self._session is None or self._loop.is_closed():
            raise ToolServerError(f"the MCP server for {name} is not running")
        return asyncio.run_coroutine_threadsafe(self._call(name, arguments), self._loop)

    def caller(self, name: str) -> Callable[..., Any]:
        """A plain function for the tool; its ``submit`` attribute starts a cancellable call (the toolbox uses it)."""

        def call(**arguments: Any) -> Any:
            return self.submit(name, arguments).result()

        call.__name__ = name
        call.submit = lambda arguments: self.submit(name, arguments)  # type: ignore[attr-defined]
        return call

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


def _why(exc: BaseException) -> str:
    """The innermost reason in an exception (group): what a user can act on."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {str(exc)[:200]}" if str(exc) else type(exc).__name__
