"""Discovery against real loopback servers: the embedded server, stand-ins for each kind on their own
127.0.0.x addresses and usual ports, closed and blackholed ports, public ranges and bad names."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

import nxs_lab as nx
from nxs_lab.discovery import discover
from nxs_lab.errors import ScanRefused
from nxs_lab.testing import Fault, FaultServer
from nxs_lab.testing.faults import LOOKALIKES

from .standins import LLAMACPP, LMSTUDIO, NEEDS_AUTH, OLLAMA, VLLM

pytestmark = pytest.mark.timeout(120)

STANDINS = [
    ("127.0.0.2", 1234, LMSTUDIO),
    ("127.0.0.3", 11434, OLLAMA),
    ("127.0.0.4", 8080, LLAMACPP),
    ("127.0.0.5", 8000, VLLM),
    ("127.0.0.6", 4000, {}),  # a plain OpenAI-compatible proxy (LiteLLM-like): only /v1/models
    ("127.0.0.7", 8000, NEEDS_AUTH),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[list[FaultServer]]:
    servers = [
        FaultServer(Fault.OK, routes=routes, host=host, port_request=port).start() for host, port, routes in STANDINS
    ]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture
def blackholed() -> Iterator[tuple[str, int]]:
    with FaultServer(Fault.BLACKHOLE, host="127.0.0.8", port_request=8080) as hole:
        yield hole.host, hole.port


def by_host(eps: nx.Endpoints) -> dict[str, object]:
    return {e.host: e for e in eps}


def test_finds_every_kind_and_reads_native_metadata(lab, local_server: nx.LocalServer) -> None:
    eps = discover(
        ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"],
        extra_ports=[local_server.port],
        progress=False,
    )
    found = {(e.host, e.port): e for e in eps}
    assert found[("127.0.0.1", local_server.port)].kind == "llama-cpp-python"
    lm = found[("127.0.0.2", 1234)]
    assert lm.kind == "lmstudio"
    qwen, gemma, nomic = lm.models
    assert (gemma.kind, gemma.context_window, gemma.quantization, gemma.loaded) == (
        nx.ModelKind.VLM,
        8192,
        "Q4_K_M",
        nx.LoadState.LOADED,
    )
    assert (qwen.kind, qwen.context_window, qwen.loaded) == (nx.ModelKind.CHAT, 4096, nx.LoadState.NOT_LOADED)
    assert (nomic.kind, nomic.loaded) == (nx.ModelKind.EMBEDDING, nx.LoadState.NOT_LOADED)
    ol = found[("127.0.0.3", 11434)]
    assert ol.kind == "ollama" and ol.version == "0.12.6"
    llama, qwen3 = ol.models
    assert llama.context_window == 8192  # what it runs with (/api/ps), not the trained 131072
    assert llama.extra["trained_context_length"] == 131072 and "tools" in llama.capabilities
    # not loaded: Ollama's default num_ctx, which is what it will run with, never the trained length
    assert (qwen3.context_window, qwen3.extra["window_source"]) == (4096, "ollama default num_ctx")
    cpp = found[("127.0.0.4", 8080)]
    assert cpp.kind == "llama.cpp" and cpp.models[0].context_window == 4096 and cpp.version == "b6500-5cdb27e"
    vl = found[("127.0.0.5", 8000)]
    assert vl.kind == "vllm" and vl.models[0].context_window == 32768 and vl.version == "0.11.0"
    generic = found[("127.0.0.6", 4000)]
    assert generic.kind == "generic" and generic.models[0].id == "stub-model"
    locked = found[("127.0.0.7", 8000)]
    assert locked.auth_required and locked.models == ()
    assert all(not e.exposed for e in eps)  # everything here is loopback


def test_endpoint_becomes_a_provider(local_server: nx.LocalServer) -> None:
    (ep,) = [e for e in discover(["127.0.0.1"], ports=[local_server.port], progress=False)]
    p = ep.provider()
    assert p.model == local_server.chat_alias
    assert p.chat([{"role": "user", "content": "hi"}], max_tokens=2).usage.completion_tokens


def test_to_dataframe_one_row_per_model(lab) -> None:
    eps = discover(["127.0.0.2", "127.0.0.3"], progress=False)
    df = eps.to_dataframe()
    assert len(df) == 5 and set(df["kind"]) == {"LM Studio", "Ollama"}
    assert {"url", "model", "context", "quantization", "loaded", "auth", "exposed"} <= set(df.columns)
    assert "<table" in eps._repr_html_()


def test_the_servers_and_models_tables_are_the_kits_one_line_per_row(lab) -> None:
    """What the discovery runbook shows: the kit's renderer (one line per row, a sideways scrollbar), one spelling
    per unit, the quantization and load state visible."""
    eps = discover(["127.0.0.2", "127.0.0.3"], progress=False)
    servers, models = eps.servers(), eps.models()
    assert [r["models"] for r in servers.rows] == [len(e.models) for e in eps] and "latency_ms" in servers.rows[0]
    assert len(models) == 5 and {"quantization", "loaded", "context"} <= set(models.rows[0])
    html = models._repr_html_()
    assert "overflow-x:scroll" in html and "Q4_K_M" in html and "not-loaded" in html
    assert html.count("<td") == len(re.findall(r"<td style='[^']*white-space:nowrap", html))  # each on one line
    assert list(models.to_dataframe().columns) == list(models.rows[0])


def test_closed_and_blackholed_ports_are_not_reported(blackholed) -> None:
    host, port = blackholed
    eps = discover([host, "127.0.0.9"], ports=[port, 1234], timeout=0.2, progress=False)
    assert list(eps) == [] and eps.scanned == 4


def test_public_ranges_need_the_flag() -> None:
    with pytest.raises(ScanRefused, match="allow_public=True"):
        discover(["8.8.8.0/30"])
    with pytest.raises(ScanRefused, match="allow_public"):
        discover(["127.0.0.1", "1.1.1.1"])


def test_caps_and_bad_input() -> None:
    with pytest.raises(ScanRefused, match="max_addresses"):
        discover(["10.0.0.0/8"])
    with pytest.raises(ScanRefused, match="not a valid network"):
        discover(["10.0.0.0/33"])
    with pytest.raises(ScanRefused, match="not a TCP port"):
        discover(["127.0.0.1"], ports=[70000])


def test_unresolvable_name_is_a_note_not_a_crash() -> None:
    eps = discover(["no-such-host.invalid", "127.0.0.9"], ports=[1234], progress=False)
    assert list(eps) == [] and any("does not resolve" in n for n in eps.notes)


def test_tailnet_without_tailscale_says_so() -> None:
    import shutil

    if shutil.which("tailscale"):
        pytest.skip("tailscale is installed here")
    eps = discover(["tailnet", "127.0.0.9"], ports=[1234], progress=False)
    assert any("tailscale is not installed" in n for n in eps.notes)


def test_progress_callback_counts_every_probe() -> None:
    seen: list[tuple[int, int]] = []
    discover(["127.0.0.9", "127.0.0.10"], ports=[1, 2, 3], progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (6, 6) and len(seen) == 6


def test_cli_discover_prints_a_table(lab, capsys: pytest.CaptureFixture[str]) -> None:
    from nxs_lab.cli import main

    assert main(["discover", "127.0.0.2", "127.0.0.4", "-q"]) == 0
    out = capsys.readouterr().out
    assert "LM Studio" in out and "llama.cpp server" in out and "qwen2.5-7b-instruct" in out
    assert "2 endpoint(s)" in out
    assert main(["discover", "8.8.8.8"]) == 2


# Devices on a shared network that answer badly (issue 12, item 6): each is a note, never the end of the scan.
HOSTILE = [
    ("127.0.1.2", Fault.DRIP, {"drip_interval": 0.2}),  # /v1/models one byte at a time
    ("127.0.1.3", Fault.HUGE_BODY, {"huge_bytes": 64 * 2**20}),  # a 64 MB model list
    ("127.0.1.4", Fault.GZIP_BOMB, {"huge_bytes": 64 * 2**20}),  # 64 KB of gzip that would expand to 64 MB
    ("127.0.1.5", Fault.NESTED_JSON, {}),
    ("127.0.1.6", Fault.OK, {"routes": LOOKALIKES["lmstudio-no-id"]}),
    ("127.0.1.7", Fault.OK, {"routes": LOOKALIKES["ollama-number-models"]}),
    ("127.0.1.10", Fault.OK, {"routes": LOOKALIKES["llamacpp-text-window"]}),
    ("127.0.1.8", Fault.HANG, {}),  # accepts, then says nothing at all
]


def test_bad_devices_become_notes_and_the_scan_ends() -> None:
    servers = [FaultServer(mode, host=host, port_request=1234, **kw).start() for host, mode, kw in HOSTILE]
    try:
        eps = discover([h for h, _, _ in HOSTILE], ports=[1234], endpoint_timeout=3.0, progress=False)
    finally:
        for s in servers:
            s.stop()
    found = by_host(eps)
    # the lookalikes are reported, with what was wrong with their model lists
    assert found["127.0.1.6"].kind == "lmstudio" and "shape" in found["127.0.1.6"].error
    assert found["127.0.1.7"].kind == "ollama" and "shape" in found["127.0.1.7"].error
    # a window that is not a number is not a window: the endpoint is reported without one
    assert found["127.0.1.10"].kind == "llama.cpp" and all(m.context_window is None for m in found["127.0.1.10"].models)
    # the rest are open ports that did not answer as a server
    assert set(found) == {"127.0.1.6", "127.0.1.7", "127.0.1.10"}
    assert any("5 open port(s) did not answer" in n for n in eps.notes)


def test_a_server_that_stalls_mid_fingerprint_is_cut_at_its_limit() -> None:
    """/v1/models answers at once; the native endpoints drip: the endpoint is reported, marked as cut."""
    routes = {"/v1/models": {"object": "list", "data": [{"id": "m", "object": "model"}]}}
    with FaultServer(Fault.DRIP, drip_interval=0.05, routes=routes, host="127.0.1.9", port_request=1234):
        eps = discover(["127.0.1.9"], ports=[1234], endpoint_timeout=1.0, progress=False)
    (ep,) = list(eps)
    assert ep.error is not None and "limit" in ep.error


def test_oversized_scans_are_refused_quickly() -> None:
    """32 × /22 is refused as soon as the count passes the cap (the old check was quadratic); addresses × ports
    is capped too."""
    with pytest.raises(ScanRefused, match="max_addresses=1024"):
        discover([f"10.{i}.0.0/22" for i in range(32)])
    with pytest.raises(ScanRefused, match="max_probes"):
        discover(["10.0.0.0/22"], ports=list(range(1, 30)), max_addresses=4096)


@pytest.mark.parametrize(
    ("addr", "exposed"),
    [("127.0.0.1", False), ("::1", False), ("100.101.102.103", False), ("fd7a:115c:a1e0::5", False),
     ("192.168.1.20", True), ("10.0.0.5", True), ("8.8.8.8", True)],
)  # fmt: skip
def test_a_tailnet_address_is_never_exposed(addr: str, exposed: bool) -> None:
    """The seed's advice: Tailscale is the safe way to reach a home box, so a server found there is not flagged."""
    from nxs_lab.discovery.scan import is_exposed

    assert is_exposed(addr) is exposed
