"""A judge: a model the user names grades each answer against a rubric. The one scorer that calls a network, so
its calls are counted apart from the endpoints being evaluated (calls, failures, tokens, cost).

    >>> judge = Judge(kimi, price=(0.6, 2.5))                              # doctest: +SKIP
    >>> ev = nx.evaluate({"local": lmstudio, "cloud": kimi}, scorer=judge)   # doctest: +SKIP
    >>> judge.usage()                                                      # doctest: +SKIP
    {'calls': 60, 'failures': 0, 'prompt_tokens': 21034, 'completion_tokens': 2210, 'cost': 0.0182}

The judge is asked for JSON (``{"score": 0-N, "reason": "…"}``), with the schema sent as ``response_format`` so
servers that constrain output must comply: ``json_schema`` (OpenAI, LM Studio, vLLM, llama-server), else
``json_object`` with the schema (llama-cpp-python's server, which refuses ``json_schema``), else none; the first a
server accepts is kept. A reply without a score in range raises :class:`JudgeError`, which the evaluation keeps on
the answer's row (its score is then missing).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any

from ..errors import BadRequest, JudgeError, NxsLabError, ServerError

__all__ = ["DEFAULT_RUBRIC", "Judge", "JudgeError"]

DEFAULT_RUBRIC = (
    "Grade the answer to the question. Judge correctness first (against the reference when one is given), then "
    "whether it does what the question asks (format, length, constraints). Ignore style."
)

_PROMPT = """{rubric}

Question:
{question}

Reference (how the answer is checked): {reference}

Answer to grade:
{answer}

Reply with JSON only: {{"score": <an integer from 0 (wrong) to {scale} (fully right)>, "reason": "<one sentence>"}}"""

_SCORE = re.compile(r'"?score"?\s*[:=]\s*(-?\d+(?:\.\d+)?)', re.IGNORECASE)


class Judge:
    """Grade answers with ``target`` (a Provider or a chain; ``model`` on it) against ``rubric``, on a
    0..``scale`` scale mapped to 0..1. Thread-safe: an evaluation may call it from several workers."""

    def __init__(
        self,
        target: Any,
        rubric: str = DEFAULT_RUBRIC,
        *,
        model: str | None = None,
        scale: int = 5,
        max_tokens: int = 200,
        structured: bool = True,
        price: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        if scale < 1:
            raise ValueError(f"scale must be at least 1, not {scale}")
        self.target, self.rubric, self.model, self.scale = target, rubric, model, scale
        self.max_tokens, self.structured, self.price = max_tokens, structured, price
        self._formats = [self._schema(), self._object()] if structured else []  # dropped as a server refuses them
        self._lock = threading.Lock()
        self._usage = {"calls": 0, "failures": 0, "prompt_tokens": 0, "completion_tokens": 0}

    def __repr__(self) -> str:
        return f"Judge({getattr(self.target, 'name', self.target)!r}, scale={self.scale})"

    def usage(self) -> dict[str, Any]:
        """The judge's own calls: made, failed (no reply, or no score in it), tokens, and cost from ``price``
        (per million prompt and completion tokens)."""
        with self._lock:
            u: dict[str, Any] = dict(self._usage)
        u["cost"] = round((u["prompt_tokens"] * self.price[0] + u["completion_tokens"] * self.price[1]) / 1e6, 6)
        return u

    def _grade_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "score": {"type": "integer", "minimum": 0, "maximum": self.scale},
                "reason": {"type": "string"},
            },
            "required": ["score", "reason"],
        }

    def _schema(self) -> dict[str, Any]:
        return {"type": "json_schema", "json_schema": {"name": "grade", "schema": self._grade_schema(), "strict": True}}

    def _object(self) -> dict[str, Any]:
        return {"type": "json_object", "schema": self._grade_schema()}

    def prompt(self, result: Any, task: Any) -> list[dict[str, str]]:
        question = "\n".join(f"{m['role']}: {m['content']}" for m in task.messages)
        reference = json.dumps(dict(task.check), ensure_ascii=False) if task.check else "none given"
        text = _PROMPT.format(
            rubric=self.rubric, question=question, reference=reference, answer=result.text or "(no text)",
            scale=self.scale,
        )  # fmt: skip
        return [{"role": "user", "content": text}]

    def _ask(self, messages: list[dict[str, str]]) -> Any:
        """One grading call, with the first output format the server accepts (a refused one is not tried again)."""
        params: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": 0.0}
        if self.model:
            params["model"] = self.model
        while True:
            fmt = self._formats[0] if self._formats else None
            try:
                return self.target.chat(messages, **params, **({"response_format": fmt} if fmt else {}))
            except (BadRequest, ServerError) as exc:
                if fmt is None or "response_format" not in str(exc):
                    raise
                self._count(None, failed=False)  # a call made, refused for its format: asked again without it
                with self._lock:
                    if self._formats and self._formats[0] is fmt:
                        self._formats.pop(0)

    def __call__(self, result: Any, task: Any) -> float:
        try:
            reply = self._ask(self.prompt(result, task))
        except NxsLabError:
            self._count(None, failed=True)
            raise
        try:
            score = self.parse(reply.text)
        except JudgeError:
            self._count(reply, failed=True)
            raise
        self._count(reply, failed=False)
        return score

    def parse(self, text: str) -> float:
        """The score in the judge's reply, mapped to 0..1; :class:`JudgeError` when there is none in range."""
        value: Any = None
        try:
            data = json.loads(text.strip().removeprefix("```json").removesuffix("```"))
            value = data.get("score") if isinstance(data, Mapping) else None
        except ValueError:
            match = _SCORE.search(text)
            value = float(match.group(1)) if match else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= self.scale:
            raise JudgeError(f"the judge gave no score from 0 to {self.scale}: {text[:200]!r}")
        return float(value) / self.scale

    def _count(self, reply: Any, *, failed: bool) -> None:
        with self._lock:
            self._usage["calls"] += 1
            self._usage["failures"] += int(failed)
            if reply is not None:
                self._usage["prompt_tokens"] += reply.usage.prompt_tokens or 0
                self._usage["completion_tokens"] += reply.usage.completion_tokens or 0
