"""``evaluate``: the same tasks through each endpoint, every call timed, counted, priced and scored."""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .._optional import progress as progress_bar
from ..client.provider import Provider
from ..defaults import EVALUATE_CONCURRENCY
from ..errors import NxsLabError
from .judge import Judge
from .report import Evaluation
from .scorers import Scorer
from .tasks import Task, tasks_from

__all__ = ["evaluate"]

Price = tuple[float, float] | tuple[float, float, float]  # per million: prompt, completion[, cached prompt]


def _endpoints(endpoints: Any) -> dict[str, tuple[Any, str | None]]:
    """``{name: (target, model)}`` from a mapping or a list of Providers, chains or ``(provider, model)`` pairs (or
    one of them alone)."""
    if hasattr(endpoints, "chat") or isinstance(endpoints, tuple):
        endpoints = [endpoints]
    if isinstance(endpoints, (str, bytes, os.PathLike)) or not isinstance(endpoints, Iterable):
        raise TypeError(f"endpoints: give Providers or chains (a list, or {{name: endpoint}}), not {endpoints!r:.60}")
    items = endpoints.items() if isinstance(endpoints, Mapping) else [(None, e) for e in endpoints]
    out: dict[str, tuple[Any, str | None]] = {}
    for name, spec in items:
        target, model = spec if isinstance(spec, tuple) else (spec, None)
        if not hasattr(target, "chat"):
            raise TypeError(f"endpoint {name or spec!r:.60} is a {type(target).__name__}, not a Provider or chain")
        label = name or (f"{target.name}:{model}" if model else getattr(target, "name", None))
        if not label:
            raise ValueError(f"endpoint {spec!r} has no name: pass a mapping {{name: endpoint}}")
        if label in out:
            raise ValueError(f"two endpoints are called {label!r}: pass a mapping with distinct names")
        out[label] = (target, model)
    if not out:
        raise ValueError("evaluate needs at least one endpoint")
    return out


def _call(target: Any, model: str | None, task: Task, params: dict[str, Any]) -> tuple[Any, int | None]:
    """One answer, and the text chunks it streamed in: streamed (for the time to first token) unless the task
    offers tools, or the server is LM Studio (its native endpoint reports its own speed and time to first token).
    Servers that report no usage in a stream (llama-cpp-python) send one token per chunk."""
    kw = dict(params, **({"model": model} if model else {}))
    if task.tools:
        return target.chat(task.messages, tools=list(task.tools), **kw), None
    if isinstance(target, Provider) and target.server_kind == "lmstudio":  # its speed is only on its native API
        return target.chat_with_stats(task.messages, **kw), None
    stream = target.stream(task.messages, **kw)
    chunks = sum(1 for _ in stream)
    return stream.result, chunks


def _record(
    name: str,
    task: Task,
    rep: int,
    answer: tuple[Any, int | None],
    prices: Mapping[str, Price],
    scorer: Scorer | None = None,
) -> dict:
    result, chunks = answer
    tokens_in, tokens_out = result.usage.prompt_tokens, result.usage.completion_tokens  # None: not reported
    server = result.server_tokens_per_s
    gen_s = result.latency_s - (result.ttft_s or result.latency_s)
    generated = tokens_out if tokens_out is not None else chunks
    measured = (generated - 1) / gen_s if generated is not None and generated > 1 and gen_s > 0 else None
    cached = result.usage.cached_tokens
    try:
        score: float | None = float((scorer or task.scorer)(result, task))
        scorer_error = None
    except Exception as exc:  # noqa: BLE001 - a custom scorer's bug (or a judge's failure) is kept on its row
        score, scorer_error = None, f"scorer failed: {type(exc).__name__}: {exc}"
    return {
        "endpoint": name,
        "task": task.id,
        "category": task.category,
        "repetition": rep,
        "ok": True,
        "error": scorer_error,
        "score": score,
        "answer": result.text,
        "tool_calls": ", ".join(c.name for c in result.tool_calls),
        "answered_by": result.provider,
        "model": result.model,
        "ttft_s": result.ttft_s,  # None where no first token was timed (an unstreamed call)
        "latency_s": result.latency_s,
        "prompt_tokens": tokens_in,
        "cached_tokens": cached,
        "completion_tokens": tokens_out,
        "tok_per_s": server if server is not None else measured,
        "tok_per_s_source": "server" if server is not None else _measured_from(measured, tokens_out),
        "cost": 0.0 if result.cached else cost(prices.get(name), tokens_in, cached, tokens_out),
        # an answer from the response cache: scored, never timed or priced (its figures are another call's)
        "from_cache": result.cached,
        **_provenance(result),
    }


def _provenance(result: Any) -> dict[str, Any]:
    """Which server, build, quantization and window answered (so a run can be told apart from the next)."""
    p = getattr(result, "provenance", None)
    if p is None:
        return {"server": None, "quantization": None, "window": None}
    return {"server": p.server, "quantization": p.quantization, "window": p.context_window}


def cost(price: Price | None, tokens_in: int | None, cached: int | None, tokens_out: int | None) -> float:
    """What one call cost at ``price`` per million tokens: ``(prompt, completion)``, or ``(prompt, completion,
    cached prompt)`` where cached input is billed apart (the prompt tokens the server reused)."""
    if price is None:
        return 0.0
    price_in, price_out = price[0], price[1]
    price_cached = price[2] if len(price) == 3 else price_in
    reused = min(cached or 0, tokens_in or 0)
    return ((((tokens_in or 0) - reused) * price_in) + reused * price_cached + (tokens_out or 0) * price_out) / 1e6


def _measured_from(measured: float | None, tokens_out: int | None) -> str | None:
    if measured is None:
        return None
    return "measured" if tokens_out is not None else "measured (chunks)"


def _failed(name: str, task: Task, rep: int, exc: NxsLabError) -> dict:
    return {"endpoint": name, "task": task.id, "category": task.category, "repetition": rep, "ok": False,
            "error": f"{type(exc).__name__}: {str(exc)[:300]}", "score": 0.0}  # fmt: skip


def evaluate(
    endpoints: Any,
    tasks: str | os.PathLike[str] | Iterable[Task | Mapping[str, Any]] | None = None,
    *,
    repetitions: int = 1,
    concurrency: int = EVALUATE_CONCURRENCY,
    max_calls: int | None = None,
    prices: Mapping[str, Price] | None = None,
    max_tokens: int = 128,
    temperature: float = 0.0,
    scorer: Scorer | None = None,
    progress: bool = True,
) -> Evaluation:
    """Ask every task ``repetitions`` times of every endpoint and score each answer.

    ``endpoints``: ``{name: Provider | FallbackChain | (Provider, model)}``, or a list of them (named by their
    ``name``). ``tasks``: a task file's path, a list of Tasks or task dicts (see
    :func:`~nxs_lab.evaluation.tasks.tasks_from`), or :func:`shipped_tasks` by default. ``max_calls`` caps the calls made (the rest are not
    made, and the evaluation says so); ``prices``: ``{name: (per million prompt tokens, per million completion
    tokens[, per million cached prompt tokens])}`` (cached input, where the server reports it, at its own price). A call that fails is recorded with its error and scored 0: the run always finishes. ``scorer``
    scores every answer instead of each task's own check: a :class:`~nxs_lab.evaluation.Judge` (its own calls are
    counted in the evaluation's ``judge``) or any ``fn(result, task) -> float``.
    """
    if repetitions < 1 or concurrency < 1 or (max_calls is not None and max_calls < 1):
        raise ValueError("repetitions, concurrency and max_calls must be at least 1")
    for name, price in (prices or {}).items():
        if not isinstance(price, (tuple, list)) or len(price) not in (2, 3):
            raise ValueError(
                f"prices[{name!r}]: a price is (prompt, completion) or (prompt, completion, cached prompt) per "
                f"million tokens, got {price!r}"
            )
    todo = tasks_from(tasks)
    named = _endpoints(endpoints)
    jobs = [(n, t, r) for r in range(repetitions) for t in todo for n in named]
    skipped = max(0, len(jobs) - max_calls) if max_calls is not None else 0
    jobs = jobs[: len(jobs) - skipped]
    params = {"max_tokens": max_tokens, "temperature": temperature}
    lock, rows = threading.Lock(), []

    def one(job: tuple[str, Task, int]) -> None:
        name, task, rep = job
        target, model = named[name]
        try:
            row = _record(name, task, rep, _call(target, model, task, params), prices or {}, scorer)
        except NxsLabError as exc:
            row = _failed(name, task, rep, exc)
        with lock:
            rows.append(row)

    t0 = time.perf_counter()
    _run_all(one, jobs, concurrency, progress)
    judge = scorer.usage() if isinstance(scorer, Judge) else None
    return Evaluation(rows, list(named), seconds=time.perf_counter() - t0, skipped=skipped, judge=judge)


def _run_all(one: Any, jobs: list[Any], concurrency: int, progress: bool) -> None:
    with (
        progress_bar(total=len(jobs), desc="evaluate", unit="call", disable=not progress) as bar,
        concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool,
    ):
        for future in concurrent.futures.as_completed([pool.submit(one, j) for j in jobs]):
            future.result()  # an unexpected error is raised here, not lost in a thread
            bar.update()
