"""LabConfig: valid files, every kind of bad file, environment overrides, secrets kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

import nxs_lab as nx

GOOD = """
runs_dir = "my-runs"

[[providers]]
name = "lmstudio"
base_url = "http://127.0.0.1:1234/v1/"
priority = 1
context_window = 8192
max_tokens = 4096
reserve = 512

[[providers]]
name = "kimi"
base_url = "https://api.moonshot.ai/v1"
api_key_env = "TEST_NXS_KIMI_KEY"
model = "kimi-k2"
priority = 3
allowed_models = ["kimi-k2"]
[providers.timeouts]
connect = 3.0
first_byte = 30.0
idle = 10.0

[[providers]]
name = "tailnet-box"
base_url = "http://100.101.102.103:11434/v1"
priority = 2
"""


def write(tmp_path: Path, text: str | bytes, name: str = "nxs_lab.toml") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_valid_file(tmp_path: Path) -> None:
    cfg = nx.LabConfig.load(write(tmp_path, GOOD), environ={})
    assert cfg.runs_dir == "my-runs"
    assert [p.name for p in cfg.by_priority()] == ["lmstudio", "tailnet-box", "kimi"]
    lm = cfg.provider("lmstudio")
    assert lm.base_url == "http://127.0.0.1:1234/v1"  # trailing slash dropped
    assert (lm.context_window, lm.max_tokens, lm.reserve) == (8192, 4096, 512)
    kimi = cfg.provider("KIMI")
    assert kimi.timeouts == nx.Timeouts(connect=3.0, first_byte=30.0, idle=10.0)
    assert kimi.allowed_models == ("kimi-k2",)


def test_default_timeouts_follow_distance(tmp_path: Path) -> None:
    cfg = nx.LabConfig.load(write(tmp_path, GOOD), environ={})
    loop = cfg.provider("lmstudio").resolved_timeouts().connect
    lan = cfg.provider("tailnet-box").resolved_timeouts().connect
    assert loop < lan < 10.0


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("[[providers]]\nname = 'x'\nbase_url = \n", "", "not valid TOML"),
        (
            "[[providers]]\nname = 'x'\nbase_url = 'http://a/v1'\nprioritty = 1\n",
            "providers[0] ('x').prioritty",
            "unknown key",
        ),
        (
            "[[providers]]\nname = 'x'\nbase_url = 'http://a/v1'\npriority = 'high'\n",
            "providers[0] ('x').priority",
            "valid integer",
        ),
        ("[[providers]]\nname = 'x'\nbase_url = 'ftp://a/v1'\n", "providers[0] ('x').base_url", "http:// or https://"),
        ("[[providers]]\nname = 'x'\n", "providers[0] ('x').base_url", "Field required"),
        (
            "[[providers]]\nname = 'x'\nbase_url = 'http://a/v1'\ncontext_window = -5\n",
            "providers[0] ('x').context_window",
            "greater than 0",
        ),
        (
            "[[providers]]\nname = 'x'\nbase_url = 'http://a/v1'\n[providers.timeouts]\nconect = 1\n",
            "providers[0] ('x').timeouts.conect",
            "unknown key",
        ),
        (
            "[[providers]]\nname='a'\nbase_url='http://a/v1'\n[[providers]]\nname='A'\nbase_url='http://b/v1'\n",
            "",
            "used twice",
        ),
        ("[[providers]]\nname='Chain'\nbase_url='http://a/v1'\n", "", "reserved for the whole fallback chain"),
        ("providers = 3\n", "providers", "expected an array of tables"),
        ("runs_dir = 5\n", "runs_dir", "valid string"),
    ],
)
def test_bad_files_name_file_key_and_expectation(tmp_path: Path, text: str, key: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(nx.ConfigError) as info:
        nx.LabConfig.load(path, environ={})
    err = info.value
    assert err.source == str(path)
    assert str(path) in str(err)
    assert any(k == key and expected in msg for k, msg in err.problems), err.problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "[[providers]]\nname = 'x'\nbase_url = 'ftp://a'\npriority = 'high'\nbogus = 1\n"
    with pytest.raises(nx.ConfigError) as info:
        nx.LabConfig.load(write(tmp_path, text), environ={})
    assert len(info.value.problems) == 3


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(nx.ConfigError, match="file not found"):
        nx.LabConfig.load(tmp_path / "nope.toml", environ={})
    with pytest.raises(nx.ConfigError, match="not UTF-8"):
        nx.LabConfig.load(write(tmp_path, b"runs_dir = '\xff\xfe'"), environ={})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {
        "NXS_LAB__RUNS_DIR": "elsewhere",
        "NXS_LAB__LMSTUDIO__PRIORITY": "9",
        "NXS_LAB__LMSTUDIO__BASE_URL": "http://127.0.0.1:4321/v1",
        "NXS_LAB__TAILNET_BOX__TIMEOUTS__CONNECT": "0.25",
        "NXS_LAB__OLLAMA__BASE_URL": "http://127.0.0.1:11434/v1",
        "UNRELATED": "x",
    }
    cfg = nx.LabConfig.load(write(tmp_path, GOOD), environ=env)
    assert cfg.runs_dir == "elsewhere"
    assert cfg.provider("lmstudio").priority == 9
    assert cfg.provider("lmstudio").base_url == "http://127.0.0.1:4321/v1"
    assert cfg.provider("tailnet-box").timeouts.connect == 0.25
    assert cfg.provider("ollama").base_url == "http://127.0.0.1:11434/v1"  # added by the environment


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(nx.ConfigError) as info:
        nx.LabConfig.load(write(tmp_path, GOOD), environ={"NXS_LAB__KIMI__PRIORITY": "soon"})
    assert "NXS_LAB__KIMI__PRIORITY" in str(info.value)


def test_load_is_all_or_nothing(tmp_path: Path) -> None:
    bad = GOOD + "\n[[providers]]\nname = 'broken'\nbase_url = 'nope'\n"
    with pytest.raises(nx.ConfigError):
        nx.LabConfig.load(write(tmp_path, bad), environ={})
    # the good file still loads afterwards: nothing global was touched
    assert len(nx.LabConfig.load(write(tmp_path, GOOD, "ok.toml"), environ={}).providers) == 3


def test_api_key_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = nx.LabConfig.load(write(tmp_path, GOOD), environ={})
    kimi = cfg.provider("kimi")
    monkeypatch.delenv("TEST_NXS_KIMI_KEY", raising=False)
    with pytest.raises(nx.ConfigError, match="TEST_NXS_KIMI_KEY is not set"):
        kimi.resolved_api_key()
    monkeypatch.setenv("TEST_NXS_KIMI_KEY", "sk-test-abcdefghijklmnopqrstuv")
    assert kimi.resolved_api_key().get_secret_value() == "sk-test-abcdefghijklmnopqrstuv"
    p = nx.Provider.from_config(kimi)
    assert p.has_api_key and "abcdefghij" not in repr(p) and "abcdefghij" not in p._repr_html_()


def test_secrets_never_shown(tmp_path: Path) -> None:
    secret = "sk-live-0123456789abcdefSECRET"
    text = f"[[providers]]\nname = 'cloud'\nbase_url = 'https://api.example.com/v1'\napi_key = '{secret}'\n"
    cfg = nx.LabConfig.load(write(tmp_path, text), environ={})
    assert secret not in repr(cfg) and secret not in str(cfg) and secret not in cfg.model_dump_json()
    assert cfg.provider("cloud").api_key.get_secret_value() == secret
    # a bad file that also holds a key: the error names the problem but never echoes the key
    for extra, expected in ((f"priority = '{secret}'\n", "priority"), ("api_key_env = 'ALSO'\n", "not both")):
        with pytest.raises(nx.ConfigError) as info:
            nx.LabConfig.load(write(tmp_path, text + extra, "bad.toml"), environ={})
        assert expected in str(info.value)
        assert secret not in str(info.value)  # even pasted into the wrong key, a key is not echoed
    env_bad = {"NXS_LAB__CLOUD__API_KEY": secret, "NXS_LAB__CLOUD__API_KEY_ENV": "X"}
    with pytest.raises(nx.ConfigError) as info2:
        nx.LabConfig.load(write(tmp_path, GOOD, "g.toml"), environ=env_bad)
    assert secret not in str(info2.value)


def test_provider_validates_like_config() -> None:
    with pytest.raises(nx.ConfigError, match="http:// or https://"):
        nx.Provider(name="x", base_url="localhost:1234")
    p = nx.Provider(name="x", base_url="http://user:pa55word@127.0.0.1:1234/v1")
    assert "pa55word" not in repr(p) and "pa55word" not in p.base_url and p.has_api_key
    with pytest.raises(nx.ConfigError, match="give one of them") as info:
        nx.Provider(name="x", base_url="http://user:pa55word@127.0.0.1:1234/v1", api_key="k-123456789")
    assert "pa55word" not in str(info.value) and "k-123456789" not in str(info.value)


def test_breaker_table_sets_every_breaker_of_a_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_NXS_KIMI_KEY", "sk-not-used")
    text = GOOD.replace('runs_dir = "my-runs"\n', 'runs_dir = "my-runs"\n[breaker]\nthreshold = 2\ncooldown = 30\n')
    cfg = nx.LabConfig.load(write(tmp_path, text), environ={"NXS_LAB__BREAKER__MAX_COOLDOWN": "300"})
    assert (cfg.breaker.threshold, cfg.breaker.cooldown, cfg.breaker.max_cooldown) == (2, 30.0, 300.0)
    chain = nx.FallbackChain.from_config(cfg)
    b = chain.breakers["kimi"]
    assert (b.threshold, b.base_cooldown, b.max_cooldown, b.name) == (2, 30.0, 300.0, "kimi")
    default = nx.FallbackChain.from_config(nx.LabConfig.load(write(tmp_path, GOOD, "plain.toml"), environ={}))
    assert (default.breakers["kimi"].threshold, default.breakers["kimi"].base_cooldown) == (3, 5.0)
    long = nx.LabConfig.model_validate({"breaker": {"cooldown": 600}}).breaker
    assert long.max_cooldown == 600.0  # a cooldown longer than the default ceiling raises the ceiling with it


@pytest.mark.parametrize(
    ("text", "env", "where", "expected"),
    [
        ("[breaker]\ncooldown = 10\nmax_cooldown = 5\n", {}, "breaker", "shorter than cooldown"),
        ("[breaker]\nthreshold = 0\n", {}, "breaker.threshold", "greater than or equal to 1"),
        ("[breaker]\ncoldown = 10\n", {}, "breaker.coldown", "unknown key"),
        ("", {"NXS_LAB__BREAKER__COOLDOWN": "-1"}, "NXS_LAB__BREAKER__COOLDOWN", "greater than 0"),
        ('[[providers]]\nname = "breaker"\nbase_url = "http://127.0.0.1:1/v1"\n', {}, "breaker", "taken by"),
        ("breaker = 5\n", {"NXS_LAB__BREAKER__COOLDOWN": "9"}, "NXS_LAB__BREAKER__COOLDOWN: breaker", "not a table"),
    ],
)
def test_bad_breaker_settings_are_named(tmp_path: Path, text: str, env: dict, where: str, expected: str) -> None:
    with pytest.raises(nx.ConfigError) as info:
        nx.LabConfig.load(write(tmp_path, text), environ=env)
    assert where in str(info.value) and expected in str(info.value), str(info.value)


def test_a_provider_has_its_own_breaker_over_the_shared_table(tmp_path, monkeypatch) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[breaker]\nthreshold = 4\ncooldown = 10\n"
        '[[providers]]\nname = "lan"\nbase_url = "http://192.168.1.2:1234/v1"\n[providers.breaker]\nthreshold = 1\n'
        '[[providers]]\nname = "cloud"\nbase_url = "https://api.moonshot.ai/v1"\n'
    )
    lab = nx.LabConfig.load(cfg)
    assert (lab.breaker_for("lan").threshold, lab.breaker_for("lan").cooldown) == (1, 10.0)  # its own, then shared
    assert lab.breaker_for("cloud").threshold == 4
    chain = nx.FallbackChain.from_config(lab)
    assert [chain.breakers[n].threshold for n in ("lan", "cloud")] == [1, 4]
    monkeypatch.setenv("NXS_LAB__CLOUD__BREAKER__COOLDOWN", "90")
    assert nx.LabConfig.load(cfg).breaker_for("cloud").cooldown == 90.0
    cfg.write_text('[[providers]]\nname = "x"\nbase_url = "http://h:1/v1"\n[providers.breaker]\nthreshhold = 2\n')
    with pytest.raises(nx.ConfigError, match="threshhold"):
        nx.LabConfig.load(cfg)
