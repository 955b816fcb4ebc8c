"""Speed of models served over HTTP (LM Studio, llama.cpp, the embedded server with variant aliases …)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._optional import needs
from .measure import mean_sd, spread

__all__ = ["EndpointMeasure", "compare_endpoints"]


@dataclass(frozen=True, slots=True)
class EndpointMeasure:
    """Speed of one model behind an HTTP endpoint, and what the server itself reported (when it does)."""

    provider: str
    model: str
    ttft_s: tuple[float, float]
    tg_tps: tuple[float, float]
    server_tps: float | None  # llama.cpp ``timings.predicted_per_second`` / LM Studio ``stats.tokens_per_second``
    repetitions: int = 1  # timed runs, after one untimed warm-up (the model may load on the first request)

    def as_row(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "ttft_ms": spread((self.ttft_s[0] * 1000, self.ttft_s[1] * 1000), self.repetitions, 1),
            "tg tok/s": spread(self.tg_tps, self.repetitions, 1),
            "server tok/s": round(self.server_tps, 1) if self.server_tps else None,
        }


def compare_endpoints(
    targets: Sequence[tuple[Any, str]],
    *,
    prompt: str = "Write a short note about rivers.",
    repetitions: int = 3,
    max_tokens: int = 32,
) -> Any:
    """TTFT and generation tokens/s of ``(provider, model)`` pairs served over HTTP (LM Studio, llama.cpp, the
    embedded server with variant aliases…), with the server's own timing where it reports one. A DataFrame. Each
    pair is asked once untimed first (a server may load the model then)."""
    with needs():
        import pandas as pd

    rows = []
    for provider, model in targets:
        ttft, tps, server = [], [], None
        provider.chat([{"role": "user", "content": prompt}], model=model, max_tokens=2, temperature=0)  # warm-up
        for _ in range(repetitions):
            s = provider.stream(
                [{"role": "user", "content": prompt}], model=model, max_tokens=max_tokens, temperature=0
            )
            n = 0
            for _delta in s:
                n += 1
            r = s.result
            assert r is not None and r.ttft_s is not None
            ttft.append(r.ttft_s)
            if n > 1 and r.latency_s > r.ttft_s:
                tps.append((n - 1) / (r.latency_s - r.ttft_s))
            full = provider.chat(
                [{"role": "user", "content": prompt}], model=model, max_tokens=max_tokens, temperature=0
            )
            server = full.server_tokens_per_s or server
        rows.append(
            EndpointMeasure(provider.name, model, mean_sd(ttft), mean_sd(tps or [float("nan")]), server, repetitions)
        )
    return pd.DataFrame([m.as_row() for m in rows])
