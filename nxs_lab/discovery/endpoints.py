"""What a scan found: one :class:`Endpoint` per server, :class:`Endpoints` for the list, as a table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._html import Table, rows_table
from .._optional import needs
from ..models import ModelInfo, ModelKind

if TYPE_CHECKING:
    import pandas as pd

    from ..client.provider import Provider

__all__ = ["Endpoint", "Endpoints"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One LLM server found: where, what kind, how fast, whether it wants a key, and its models."""

    url: str
    host: str
    port: int
    kind: str
    label: str
    version: str | None
    latency_s: float
    auth_required: bool
    exposed: bool
    models: tuple[ModelInfo, ...] = ()
    error: str | None = None

    def provider(self, name: str | None = None, api_key: str | None = None, **kw: Any) -> Provider:
        """A :class:`~nxs_lab.Provider` for this endpoint (give ``api_key`` when ``auth_required``)."""
        from ..client import Provider

        chat = [m.id for m in self.models if m.kind is ModelKind.CHAT]
        kw.setdefault("model", chat[0] if chat else None)
        return Provider(name=name or f"{self.kind}@{self.host}:{self.port}", base_url=self.url, api_key=api_key, **kw)

    def rows(self) -> list[dict[str, Any]]:
        base = {
            "url": self.url,
            "kind": self.label,
            "version": self.version,
            "latency_ms": round(self.latency_s * 1000, 1),
            "auth": "needs key" if self.auth_required else "open",
            "exposed": self.exposed,
        }
        if not self.models:
            return [{**base, "model": None, "model kind": None, "context": None, "quantization": None, "loaded": None}]
        return [
            {
                **base,
                "model": m.id,
                "model kind": m.kind.value,
                "context": m.context_window,
                "quantization": m.quantization,
                "loaded": m.loaded.value,
            }
            for m in self.models
        ]


class Endpoints(list):
    """The endpoints a scan found (a list), with the scan's notes and a table view."""

    def __init__(
        self, items: Iterable[Endpoint] = (), notes: Sequence[str] = (), scanned: int = 0, seconds: float = 0.0
    ):
        super().__init__(items)
        self.notes = list(notes)
        self.scanned = scanned
        self.seconds = seconds

    def rows(self) -> list[dict[str, Any]]:
        return [row for ep in self for row in ep.rows()]

    def to_dataframe(self) -> pd.DataFrame:
        with needs():
            import pandas as pd

        return pd.DataFrame(self.rows())

    def servers(self) -> Table:
        """One line per server: where, what kind, how fast, whether it wants a key, how many models."""
        keep = ("url", "kind", "version", "latency_ms", "auth", "exposed")
        rows = [{**{k: ep.rows()[0][k] for k in keep}, "models": len(ep.models)} for ep in self]
        return Table(f"{len(self)} server(s) in {self.scanned} probes, {self.seconds:.2f} s", rows,
                     notes=[f"note: {n}" for n in self.notes], wide=True)  # fmt: skip

    def models(self) -> Table:
        """One line per model: its server, kind, context window, quantization and load state."""
        keep = ("url", "kind", "model", "model kind", "context", "quantization", "loaded")
        rows = [{k: r[k] for k in keep} for r in self.rows() if r["model"] is not None]
        return Table(f"{len(rows)} model(s)", rows, wide=True)

    def _repr_html_(self) -> str:
        rows = self.rows()
        cols = list(rows[0]) if rows else ["url"]
        title = f"{len(self)} endpoint(s) in {self.scanned} probes, {self.seconds:.2f} s"
        notes = "".join(f"<div>note: {n}</div>" for n in self.notes)
        return rows_table(title, cols, [list(r.values()) for r in rows]) + notes
