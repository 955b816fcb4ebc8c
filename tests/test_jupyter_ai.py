"""The kit in jupyter-ai: its registry (the installed jupyter-ai-magics, found through the entry point) lists the
provider ``nxs``, which answers through the configured chain, failing over past a refused provider, and streams."""

from __future__ import annotations

from pathlib import Path

import pytest

import nxs_lab as nx

jupyter_ai = pytest.importorskip("jupyter_ai_magics", reason="the jupyter-ai extra is not installed")


@pytest.fixture
def chain_config(local_server: nx.LocalServer, refused_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from nxs_lab.resilience.targets import configured

    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[[providers]]\nname = "dead"\nbase_url = "{refused_url}"\npriority = 1\n\n'
        f'[[providers]]\nname = "embedded"\nbase_url = "{local_server.base_url}"\npriority = 2\n'
    )
    monkeypatch.setenv("NXS_LAB_CONFIG", str(cfg))
    configured.reset()  # read these settings, not another test's
    yield cfg
    configured.reset()


def test_the_registry_lists_the_kit_and_it_answers_through_the_chain(chain_config: Path) -> None:
    from jupyter_ai_magics.utils import get_lm_providers

    providers = get_lm_providers()
    assert "nxs" in providers and providers["nxs"].name == "nxs_lab"
    llm = providers["nxs"](model_id="chain", max_tokens=12)
    reply = llm.invoke("Name a colour.")
    assert reply.content and reply.response_metadata["provider"] == "embedded"
    tried = [(a["provider"], a["outcome"]) for a in reply.response_metadata["attempts"]]
    assert tried == [("dead", "failed"), ("embedded", "ok")]
    chunks = list(providers["nxs"](model_id="embedded", max_tokens=8).stream("Say hi."))
    assert chunks and "".join(c.text() for c in chunks)


def test_an_unknown_model_is_named(chain_config: Path) -> None:
    from jupyter_ai_magics.utils import get_lm_providers

    with pytest.raises(nx.ConfigError, match="not a configured provider"):
        get_lm_providers()["nxs"](model_id="nosuch").invoke("hi")
