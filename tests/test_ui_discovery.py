"""The DiscoveryPanel driven in plain pytest: set values, click, read what it shows, check the core object."""

from __future__ import annotations

import pytest

import nxs_lab as nx
from nxs_lab.testing import Fault, FaultServer
from nxs_lab.ui import DiscoveryPanel

from .standins import LMSTUDIO

pytestmark = pytest.mark.timeout(60)


def test_scan_click_shows_rows_and_use_yields_a_provider(local_server: nx.LocalServer) -> None:
    picked: list[nx.Provider] = []
    with FaultServer(Fault.OK, routes=LMSTUDIO, host="127.0.0.12", port_request=1234):
        panel = DiscoveryPanel(on_select=picked.append)
        panel.hosts.value = "127.0.0.1, 127.0.0.12"
        panel.ports.value = f"1234, {local_server.port}"
        panel.scan_button.click()
        panel.wait(30)
    assert panel.error is None
    assert "LM Studio" in panel.table.value and "llama-cpp-python" in panel.table.value
    assert panel.progress.value == panel.progress.max == 4
    assert len(panel.choice.options) == 2 and not panel.use_button.disabled
    assert panel.choice.value == 0  # a choice is made for the user
    panel.choice.value = next(v for label, v in panel.choice.options if str(local_server.port) in label)
    panel.use_button.click()
    assert picked and picked[0] is panel.provider
    assert panel.provider.base_url == local_server.base_url and panel.provider.model == local_server.chat_alias
    assert "using" in panel.status.value


def test_bad_input_is_shown_and_keeps_the_last_results() -> None:
    panel = DiscoveryPanel()
    panel.table.value = "<table>previous results</table>"
    panel.ports.value = "1234, abc"
    panel.scan_button.click()
    assert "ports: &#x27;abc&#x27; is not a number" in panel.status.value
    assert panel.table.value == "<table>previous results</table>"
    panel.ports.value = "1234"
    panel.hosts.value = "8.8.8.8"
    panel.scan(wait=True)
    assert "allow_public" in panel.status.value and isinstance(panel.error, ValueError)


def test_use_before_scan_says_what_to_do() -> None:
    panel = DiscoveryPanel()
    assert panel.use() is None and "scan first" in panel.status.value


def test_panel_renders_as_a_widget() -> None:
    bundle = DiscoveryPanel()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_a_scan_among_bad_devices_ends_with_a_result() -> None:
    with (
        FaultServer(Fault.HANG, host="127.0.0.13", port_request=1234),
        FaultServer(Fault.NESTED_JSON, host="127.0.0.14", port_request=1234),
    ):
        panel = DiscoveryPanel()
        panel.hosts.value = "127.0.0.13, 127.0.0.14"
        panel.ports.value = "1234"
        panel.scan_button.click()
        panel.wait(30)
    assert not panel.busy and panel.error is None and not panel.scan_button.disabled
    assert "found 0 endpoint(s)" in panel.status.value and "did not answer" in panel.status.value


class _Broken(DiscoveryPanel):
    def _run(self, hosts: list[str], ports: list[int], timeout: float) -> None:
        raise RuntimeError("a bug in the scan")


def test_an_unexpected_failure_still_ends_the_scan_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    panel = _Broken()
    panel.hosts.value = "127.0.0.9"
    panel.scan(wait=True)
    assert not panel.busy and isinstance(panel.error, RuntimeError)
    assert "a bug in the scan" in panel.status.value and "failed" in panel.status.value
    assert not panel.scan_button.disabled
    assert any("background work failed" in r.message for r in caplog.records)


def test_a_picked_server_handed_to_the_chat_keeps_its_name(local_server: nx.LocalServer) -> None:
    """Issue 27: the provider the DiscoveryPanel makes is the one the ChatPanel lists, answers through and names
    under the answer: its name and model, never a new one."""
    from nxs_lab.ui import ChatPanel

    configured = nx.Provider(name="mine", base_url=local_server.base_url)
    chat = ChatPanel(providers=configured)
    panel = DiscoveryPanel(hosts="127.0.0.1", ports=str(local_server.port), on_select=chat.use)
    panel.scan(wait=True)
    picked = panel.use()
    assert picked is not None and picked.name == f"llama-cpp-python@127.0.0.1:{local_server.port}"
    assert chat.choice.value == picked.name and (picked.name, picked.name) in chat.choice.options
    assert chat.provider is picked
    chat.send("Say hi.")
    chat.wait(60)
    assert chat.error is None
    result = chat.last_result
    assert result.provider == picked.name and result.model == picked.model
    assert picked.name in chat.view.messages[-1]["meta"]  # the line under the answer names it as the dropdown does
