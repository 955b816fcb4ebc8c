"""Scorers: how good one answer is, from 0.0 to 1.0, with no network (the judge excepted, and it says so).

A scorer is any function ``score(result, task) -> float | bool``: ``result`` is the
:class:`~nxs_lab.ChatResult` (its ``text``, ``tool_calls``), ``task`` the :class:`~nxs_lab.evaluation.Task`.
The built-ins are made from a task's ``check`` (see :func:`from_check`)::

    {"type": "exact", "value": "Paris"}                       # the whole answer, as written
    {"type": "normalized", "value": "Paris"}                  # case, spaces, punctuation and articles aside
    {"type": "contains", "values": ["Nile", "Egypt"]}          # each value appears (normalized); "every": false
                                                               # scores the share that does
    {"type": "regex", "pattern": "^\\\\d{4}$"}                  # re.search on the stripped answer
    {"type": "numeric", "value": 42, "tolerance": 0.01}       # the last number in the answer, relative tolerance
    {"type": "json", "schema": {...}}                          # the answer (or its ```json block) against a schema
    {"type": "tool_call", "name": "search_memory", "arguments": {"query": "rivers"}}

    >>> from nxs_lab.results import ChatResult
    >>> r = ChatResult(text="The answer is 41.99.", provider="p", model="m")
    >>> numeric(r, value=42, tolerance=0.01), contains(r, values=["answer"]), exact(r, value="42")
    (1.0, 1.0, 0.0)
"""

from __future__ import annotations

import inspect
import json
import math
import re
import string
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import MissingDependency

__all__ = ["SCORERS", "contains", "exact", "from_check", "json_valid", "normalized", "numeric", "regex", "tool_call"]

Scorer = Callable[[Any, Any], "float | bool"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def normalize(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces: how SQuAD compares short answers."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact(result: Any, *, value: str) -> float:
    return float(result.text.strip() == value)


def normalized(result: Any, *, value: str) -> float:
    return float(normalize(result.text) == normalize(value))


def contains(result: Any, *, values: list[str], every: bool = True) -> float:
    """With ``every`` (the default), 1.0 when each of ``values`` is in the answer (normalized), else 0.0;
    without, the share of them that is."""
    answer = normalize(result.text)
    found = [normalize(v) in answer for v in values]
    if every:
        return float(min(found, default=False))
    return sum(found) / len(found) if found else 0.0


def regex(result: Any, *, pattern: str) -> float:
    return float(re.search(pattern, result.text.strip()) is not None)


def numeric(result: Any, *, value: float, tolerance: float = 0.0) -> float:
    """The answer's last number within ``tolerance`` (relative; absolute when ``value`` is 0) of ``value``."""
    numbers = _NUMBER.findall(result.text)
    if not numbers:
        return 0.0
    got = float(numbers[-1].replace(",", ""))
    return float(math.isclose(got, value, rel_tol=tolerance, abs_tol=tolerance if value == 0 else 0.0))


def json_valid(result: Any, *, schema: Mapping[str, Any]) -> float:
    """The answer (or the first fenced block in it) parses as JSON and is valid against ``schema``."""
    try:
        import jsonschema
        from referencing import Registry
    except ImportError:
        raise MissingDependency("jsonschema", "notebooks") from None
    fenced = _FENCE.search(result.text)
    text = fenced.group(1) if fenced else result.text
    try:
        data = json.loads(text.strip())
    except ValueError:
        return 0.0
    # an empty registry: a $ref resolves within the schema only, never fetched from the network
    return float(jsonschema.Draft202012Validator(schema, registry=Registry()).is_valid(data))


def tool_call(result: Any, *, name: str, arguments: Mapping[str, Any] | None = None) -> float:
    """The model asked for tool ``name``; with ``arguments``, each given one matches (normalized for text)."""
    for call in result.tool_calls:
        if call.name != name:
            continue
        if not arguments:
            return 1.0
        try:
            got = call.parsed_arguments()
        except ValueError:
            return 0.0
        if isinstance(got, dict) and all(_same(got.get(k), v) for k, v in arguments.items()):
            return 1.0
    return 0.0


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, str) and isinstance(got, str):
        return normalize(got) == normalize(want)
    return bool(got == want)


SCORERS: dict[str, Callable[..., float]] = {
    "exact": exact,
    "normalized": normalized,
    "contains": contains,
    "regex": regex,
    "numeric": numeric,
    "json": json_valid,
    "tool_call": tool_call,
}


def from_check(check: Mapping[str, Any]) -> Scorer:
    """The scorer a task's ``check`` names, with its parameters bound. Raises ``ValueError`` naming what is wrong
    (an unknown type, a missing or unexpected parameter), so a task file fails when it is loaded, not mid-run."""
    kind = check.get("type")
    if kind not in SCORERS:
        raise ValueError(f"check type {kind!r} is not one of {', '.join(SCORERS)}")
    fn = SCORERS[kind]
    params = {k: v for k, v in check.items() if k != "type"}
    try:
        inspect.signature(fn).bind(None, **params)
    except TypeError as exc:
        raise ValueError(f"check {kind!r}: {exc}") from None
    if kind == "regex":
        try:
            re.compile(params["pattern"])
        except re.error as exc:
            raise ValueError(f"check 'regex': the pattern does not compile: {exc}") from None
    return lambda result, _task: fn(result, **params)
