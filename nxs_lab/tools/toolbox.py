"""Toolbox: typed Python functions as OpenAI tools, with arguments validated before anything runs.

    >>> tb = Toolbox()
    >>> @tb.tool
    ... def search_memory(query: str, limit: int = 3) -> str:
    ...     '''Search the user's notes.
    ...
    ...     Args:
    ...         query: what to look for.
    ...         limit: how many notes at most.
    ...     '''
    ...     return "notes about " + query
    >>> tb.schemas()[0]["function"]["parameters"]["required"]
    ['query']

Schemas are derived from signatures, type hints and docstrings through
pydantic, never written by hand. :meth:`Toolbox.call` never raises for bad
model output: an unknown tool, malformed or absurdly nested JSON, arguments that
fail validation (strictly: ``"1"`` is not an integer), a tool that raises or
times out each become a :class:`ToolOutcome` with an error the model can read
and correct from.

Timeouts. A tool's clock starts when it starts. Each call runs on a daemon
thread of its own, so a hung tool never holds up another call or the end of the
interpreter. An ``async`` tool or an MCP call that times out is cancelled (MCP
through its session). A plain Python function cannot be stopped from outside:
when it times out it may still finish later, and the model is told so, so it
checks before it repeats a side effect.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .._html import rows_table
from ..defaults import TOOL_TIMEOUT

__all__ = ["Tool", "ToolOutcome", "Toolbox"]


def _doc_parts(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """(description, {parameter: description}) from a Google, NumPy, reST or Epydoc docstring."""
    import docstring_parser

    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    head = " ".join(filter(None, [doc.short_description, doc.long_description]))
    params = {p.arg_name: " ".join((p.description or "").split()) for p in doc.params if p.description}
    return " ".join(head.split()), params


@dataclass(frozen=True)
class Tool:
    """One callable tool: its name, description, argument model and the function itself."""

    name: str
    description: str
    fn: Callable[..., Any]
    arguments: type[BaseModel] | None  # None: arguments are checked against `schema` by the tool's owner
    schema: dict[str, Any]
    timeout: float | None = None
    source: str = "python"  # python | mcp:<server>

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.schema},
        }


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What one tool call produced: a result, or an error meant for the model to read."""

    name: str
    ok: bool
    content: str  # what goes back to the model as the tool message
    result: Any = None
    # unknown-tool | malformed-json | invalid-arguments | raised | timeout | too-many-calls
    error: str | None = None
    seconds: float = 0.0


def _to_content(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=str, ensure_ascii=False)


def _checked_timeout(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


def _started(tool: Tool, kwargs: dict[str, Any], timeout: float) -> concurrent.futures.Future[Any]:
    """Start one call now, on a daemon thread of its own (an MCP call: on its session's loop)."""
    submit = getattr(tool.fn, "submit", None)
    if submit is not None:
        future: concurrent.futures.Future[Any] = submit(kwargs)
        return future
    future = concurrent.futures.Future()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            if inspect.iscoroutinefunction(tool.fn):
                value = asyncio.run(asyncio.wait_for(tool.fn(**kwargs), timeout))
            else:
                value = tool.fn(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        else:
            future.set_result(value)

    threading.Thread(target=work, name=f"nxs-tool-{tool.name}", daemon=True).start()
    return future


def _validated(tool: Tool, raw: dict[str, Any]) -> dict[str, Any] | str:
    """The call's keyword arguments, or what is wrong with them (for the model to read)."""
    if tool.arguments is None:
        from referencing.exceptions import Unresolvable

        try:
            errors = sorted(_validator(tool.schema).iter_errors(raw), key=lambda e: list(e.path))
        except RecursionError:
            return "the arguments are nested too deeply"
        except (TypeError, ValueError, re.error, Unresolvable) as exc:  # checked at attach, yet fails on these
            return f"the tool's schema cannot check these arguments ({type(exc).__name__})"
        return "; ".join(f"{'.'.join(map(str, e.path)) or 'arguments'}: {e.message}" for e in errors) or raw
    try:
        # strict, from JSON: "1" is not an integer and true is not 1, as the schema the model saw says
        return dict(tool.arguments.model_validate_json(json.dumps(raw), strict=True))
    except RecursionError:
        return "the arguments are nested too deeply"
    except ValidationError as exc:
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors(include_url=False)
        )


def _validator(schema: Any) -> Any:
    """A JSON Schema validator for ``schema`` that never reaches the network: a ``$ref`` resolves only inside the
    schema itself (jsonschema would otherwise fetch a remote one, on every call, with no timeout)."""
    import jsonschema
    from referencing import Registry

    return jsonschema.Draft202012Validator(schema, registry=Registry())


def _refs(schema: Any, limit: int = 10_000) -> list[str]:
    """Every ``$ref`` / ``$dynamicRef`` value in ``schema``."""
    out: list[str] = []
    todo, seen = [schema], 0
    while todo and seen < limit:
        node = todo.pop()
        seen += 1
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                    out.append(value)
                else:
                    todo.append(value)
        elif isinstance(node, list):
            todo.extend(node)
    return out


def _resolve_within(schema: Mapping[str, Any], refs: list[str]) -> None:
    """Resolve every (local) reference now, inside the schema: a dangling one raises ``Unresolvable`` here, at
    attach, not at the model's first call."""
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    resolver = Registry().with_resource("", DRAFT202012.create_resource(schema)).resolver()
    for ref in refs:
        resolver.lookup(ref)


def _schema_problem(schema: Any) -> str | None:
    """What is wrong with a tool's input schema, or ``None`` when it can check arguments."""
    import jsonschema

    if not isinstance(schema, Mapping):
        return f"not an object ({type(schema).__name__})"
    refs = _refs(schema)
    remote = [r for r in refs if not r.startswith("#")]
    if remote:
        return (
            f"it refers outside itself ($ref {remote[0][:120]!r}): a tool's schema is resolved only within itself, "
            "never fetched (put the definition under $defs and refer to it as #/$defs/…)"
        )
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        list(_validator(schema).iter_errors({}))  # compiles patterns
        _resolve_within(schema, refs)
    except jsonschema.SchemaError as exc:
        return str(exc.message)[:200]
    except Exception as exc:  # noqa: BLE001 - foreign data: whatever breaks the checker is reported as the refusal
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


class Toolbox:
    """A set of tools the model may call. Only registered tools can ever run.

    ``default_timeout``: seconds a call may take unless its tool says otherwise (positive).
    """

    def __init__(self, *, default_timeout: float = TOOL_TIMEOUT) -> None:
        self._tools: dict[str, Tool] = {}
        self.default_timeout = _checked_timeout(default_timeout, "default_timeout")
        self._closers: list[Callable[[], None]] = []

    # ------------------------------------------------------------ registration

    def tool(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Register ``fn`` (use as ``@tb.tool`` or ``@tb.tool(name=..., timeout=...)``)."""

        _checked_timeout(timeout, "timeout")

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            self.add(self._from_function(f, name, description, timeout))
            return f

        return register(fn) if fn is not None else register

    def _from_function(
        self, fn: Callable[..., Any], name: str | None, description: str | None, timeout: float | None
    ) -> Tool:
        tool_name = name or fn.__name__
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tool_name):
            raise ValueError(f"tool name {tool_name!r}: use 1-64 letters, digits, '_' or '-'")
        doc, param_docs = _doc_parts(fn)
        hints = get_type_hints(fn)
        fields: dict[str, Any] = {}
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"tool {tool_name}: *args / **kwargs cannot be described to a model")
            if p.name not in hints:
                raise TypeError(f"tool {tool_name}: parameter {p.name!r} needs a type hint")
            default = ... if p.default is inspect.Parameter.empty else p.default
            fields[p.name] = (hints[p.name], Field(default, description=param_docs.get(p.name)))
        model = create_model(f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
        schema = model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return Tool(tool_name, description or doc or tool_name, fn, model, schema, timeout)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        problem = _schema_problem(tool.schema) if tool.arguments is None else None
        if problem is not None:
            raise ValueError(f"the tool {tool.name!r} has an input schema that cannot be used: {problem}")
        self._tools[tool.name] = tool

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """The ``tools=[...]`` list for a chat request."""
        return [t.openai_schema() for t in self._tools.values()]

    def _repr_html_(self) -> str:
        rows = [
            [t.name, t.source, t.description, json.dumps(t.schema.get("properties", {}))] for t in self._tools.values()
        ]
        return rows_table(f"toolbox: {len(self)} tool(s)", ["name", "source", "description", "parameters"], rows)

    # ------------------------------------------------------------------- calls

    def call(self, name: str, arguments: str | Mapping[str, Any] | None) -> ToolOutcome:
        """Validate and run one call. Never raises for anything the model got wrong."""
        t0 = time.perf_counter()

        def fail(kind: str, message: str) -> ToolOutcome:
            return ToolOutcome(name, False, f"error ({kind}): {message}", error=kind, seconds=time.perf_counter() - t0)

        tool = self._tools.get(name)
        if tool is None:
            return fail(
                "unknown-tool", f"there is no tool named {name!r}; available: {', '.join(self.names) or 'none'}"
            )
        if isinstance(arguments, str) or arguments is None:
            try:
                raw = json.loads(arguments) if arguments and arguments.strip() else {}
            except json.JSONDecodeError as exc:
                return fail("malformed-json", f"the arguments are not valid JSON ({exc.msg} at char {exc.pos})")
            except RecursionError:
                return fail("malformed-json", "the arguments are nested too deeply to read")
        else:
            raw = dict(arguments)
        if not isinstance(raw, dict):
            return fail("invalid-arguments", f"arguments must be a JSON object, got {type(raw).__name__}")
        kwargs = _validated(tool, raw)
        if isinstance(kwargs, str):
            return fail("invalid-arguments", kwargs)
        timeout = tool.timeout or self.default_timeout or TOOL_TIMEOUT
        future = _started(tool, kwargs, timeout)
        try:
            value = future.result(timeout=timeout)
        except (concurrent.futures.TimeoutError, TimeoutError):
            if future.cancel() or tool.source != "python" or inspect.iscoroutinefunction(tool.fn):
                return fail("timeout", f"{name} did not finish within {timeout:g} s and was cancelled")
            return fail(
                "timeout",
                f"{name} did not finish within {timeout:g} s; it may still complete in the background, "
                "so check its effect before calling it again",
            )
        except Exception as exc:  # noqa: BLE001 - the tool's own failure, reported to the model and the trace
            return fail("raised", f"{type(exc).__name__}: {str(exc)[:500]}")
        return ToolOutcome(name, True, _to_content(value), result=value, seconds=time.perf_counter() - t0)

    # --------------------------------------------------------------------- MCP

    @classmethod
    def from_mcp(
        cls,
        command: str,
        args: list[str] | None = None,
        *,
        allow: list[str],
        env: Mapping[str, str] | None = None,
        timeout: float = TOOL_TIMEOUT,
    ) -> Toolbox:
        """The tools of an MCP server started over stdio, limited to the names in ``allow``.

        MCP servers run code on this machine: start only ones you trust, and allow only the tools
        you mean to offer. A name in ``allow`` that the server lacks is an error.
        """
        from .mcp import MCPBridge

        tb = cls(default_timeout=timeout)
        tb.attach_mcp(MCPBridge(command, args or [], env=env), allow=allow)
        return tb

    def attach_mcp(self, bridge: Any, *, allow: list[str]) -> None:
        """Offer the allowed tools of a started MCP server. Refused (and the server stopped) when a name is
        missing or a tool's input schema is not a valid JSON Schema: better now than at the model's first call."""
        listed = {t.name: t for t in bridge.start()}
        missing = [n for n in allow if n not in listed]
        broken = {n: _schema_problem(listed[n].input_schema) for n in allow if n in listed}
        broken = {n: why for n, why in broken.items() if why}
        if missing or broken:
            bridge.close()
            if missing:
                raise ValueError(f"the MCP server has no tool(s) {missing}; it offers {sorted(listed)}")
            raise ValueError(
                "the MCP server's input schema is broken for " + "; ".join(f"{n}: {w}" for n, w in broken.items())
            )
        for name in allow:
            t = listed[name]
            self.add(
                Tool(
                    name,
                    t.description or name,
                    bridge.caller(name),
                    None,
                    dict(t.input_schema),
                    source=f"mcp:{bridge.name}",
                )
            )
        self._closers.append(bridge.close)

    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers.clear()

    def __enter__(self) -> Toolbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
