"""Tasks: what an evaluation asks, and how each answer is checked. The kit ships a few dozen (``shipped_tasks``);
your own come from a JSONL file, one task per line::

    {"id": "capital-fr", "input": "What is the capital of France? One word.", "target": "Paris"}
    {"id": "sum", "input": "What is 17 + 25?", "check": {"type": "numeric", "value": 42}}
    {"id": "find", "input": "What do my notes say about rivers?", "tools": ["search_memory"],
     "check": {"type": "tool_call", "name": "search_memory"}}

``input`` is a question or a list of chat messages; ``target`` alone means a normalized match; ``check`` names a
scorer (:mod:`nxs_lab.evaluation.scorers`); ``tools`` names tools from :data:`TOOLS` (or a tool schema), offered to
the model. A bad line raises :class:`~nxs_lab.errors.ConfigError` naming the file, the line and what was wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .scorers import Scorer, from_check

__all__ = ["TOOLS", "Task", "load_tasks", "shipped_tasks", "tasks_from"]

SHIPPED = Path(__file__).with_name("tasks.jsonl")

# Tools a task can offer by name (their schemas only: evaluation scores the call, it runs nothing).
TOOLS: dict[str, dict[str, Any]] = {
    "search_memory": {
        "type": "function",
        "function": {
            "name": "search_memory",
            "description": "Search the user's saved notes for a topic.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "what to look for"}},
                "required": ["query"],
            },
        },
    },
    "get_weather": {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    "add_numbers": {
        "type": "function",
        "function": {
            "name": "add_numbers",
            "description": "Add two numbers exactly.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
        },
    },
}

_KEYS = {"id", "input", "target", "check", "tools", "category"}


@dataclass(frozen=True)
class Task:
    """One question and how its answer is scored."""

    id: str
    input: str | tuple[Mapping[str, Any], ...]
    scorer: Scorer = field(repr=False, compare=False)
    check: Mapping[str, Any] = field(default_factory=dict)
    tools: tuple[Mapping[str, Any], ...] = ()
    category: str = ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        if isinstance(self.input, str):
            return [{"role": "user", "content": self.input}]
        return [dict(m) for m in self.input]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], default_id: str | None = None) -> Task:
        """A task from one JSON object; ``ValueError`` says what is wrong with it. Without an ``id``, the task is
        called ``default_id`` (a file's ``line N``, a list's ``task N``) where one is given."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a task is a JSON object, not {type(data).__name__}")
        unknown = set(data) - _KEYS
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))} (a task has {', '.join(sorted(_KEYS))})")
        if "id" not in data and default_id is not None:
            data = {**data, "id": default_id}
        if not isinstance(data.get("id"), str) or not data["id"]:
            raise ValueError("'id' must be a non-empty string")
        raw_input = data.get("input")
        if not (isinstance(raw_input, str) and raw_input) and not _is_messages(raw_input):
            raise ValueError("'input' must be a question or a list of {'role', 'content'} messages")
        check = data.get("check")
        if check is None:
            if not isinstance(data.get("target"), str):
                raise ValueError("give 'target' (a string) or 'check' (a scorer and its parameters)")
            check = {"type": "normalized", "value": data["target"]}
        if not isinstance(check, Mapping):
            raise ValueError("'check' must be an object such as {'type': 'contains', 'values': [...]}")
        task_input = raw_input if isinstance(raw_input, str) else tuple(raw_input or ())
        return cls(
            data["id"], task_input, from_check(check), dict(check), _tools(data.get("tools")), data.get("category", "")
        )


def _is_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in value)
    )


def _tools(value: Any) -> tuple[Mapping[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("'tools' must be a list of tool names or schemas")
    out = []
    for t in value:
        if isinstance(t, str):
            if t not in TOOLS:
                raise ValueError(f"tool {t!r} is not one of {', '.join(TOOLS)} (or give its schema)")
            out.append(TOOLS[t])
        elif isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("function"), dict):
            out.append(t)
        else:
            raise ValueError("each tool is a name or an OpenAI tool schema ({'type': 'function', 'function': …})")
    return tuple(out)


def load_tasks(path: str | os.PathLike[str]) -> list[Task]:
    """The tasks in a JSONL file (blank lines and ``#`` comments skipped; a task without an ``id`` is called
    ``line N``). Every bad line is reported at once, as ``ConfigError`` naming the file and ``line N``; ids must
    be unique."""
    source = str(path)
    tasks: list[Task] = []
    problems: list[tuple[str, str]] = []
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise ConfigError(source, [("", "no such task file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [("", f"cannot be read as a UTF-8 task file ({exc})")]) from None
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            task = Task.from_dict(json.loads(line), default_id=f"line {n}")
        except ValueError as exc:  # json.JSONDecodeError is one
            problems.append((f"line {n}", str(exc)))
            continue
        if any(t.id == task.id for t in tasks):
            problems.append((f"line {n}", f"id {task.id!r} is used twice"))
        tasks.append(task)
    if problems:
        raise ConfigError(source, problems)
    if not tasks:
        raise ConfigError(source, [("", "no tasks in the file")])
    return tasks


def shipped_tasks(categories: Iterable[str] | None = None) -> list[Task]:
    """The kit's own tasks (written for the kit): recall, arithmetic, extraction, instructions, tools, summaries."""
    tasks = load_tasks(SHIPPED)
    wanted = set(categories) if categories is not None else None
    return [t for t in tasks if wanted is None or t.category in wanted]


def tasks_from(value: Any) -> list[Task]:
    """The tasks ``value`` gives: ``None`` for :func:`shipped_tasks`; a path to a JSONL file (:func:`load_tasks`);
    a :class:`Task`; or a list of Tasks and task dicts (one without an ``id`` is called ``task N``). Anything else is
    a ``TypeError`` naming what was passed; a bad dict a ``ConfigError`` naming its place in the list."""
    if value is None:
        return shipped_tasks()
    if isinstance(value, (str, os.PathLike)):
        return load_tasks(value)
    if isinstance(value, Task):
        return [value]
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise TypeError(f"tasks: give a task file's path, a list of Tasks or task dicts, or None; got {_what(value)}")
    tasks: list[Task] = []
    problems: list[tuple[str, str]] = []
    for n, item in enumerate(value, 1):
        if isinstance(item, Task):
            tasks.append(item)
        elif isinstance(item, Mapping):
            try:
                tasks.append(Task.from_dict(item, default_id=f"task {n}"))
            except ValueError as exc:
                problems.append((f"task {n}", str(exc)))
        else:
            problems.append((f"task {n}", f"is {_what(item)}, not a Task or a task dict"))
    ids = [t.id for t in tasks]
    problems += [("", f"id {i!r} is used twice") for i in sorted({i for i in ids if ids.count(i) > 1})]
    if problems:
        raise ConfigError("tasks", problems)
    if not tasks:
        raise ConfigError("tasks", [("", "the list is empty")])
    return tasks


def _what(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"
