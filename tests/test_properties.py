"""What must hold for any input (hypothesis): the retry decision for any HTTP status and Retry-After, typed
configuration errors for any bad value or environment variable. (JSONL round-trips: tests/test_jsonl_files.py.)"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nxs_lab as nx
from nxs_lab.client._boundary import status_error
from nxs_lab.config import ENV_PREFIX, LabConfig, ProviderConfig, Timeouts
from nxs_lab.resilience.retry import Action, RetryPolicy, decide

BODIES = st.one_of(
    st.none(),
    st.text(max_size=400),
    st.dictionaries(st.text(max_size=10), st.text(max_size=50), max_size=3),
    st.fixed_dictionaries({"error": st.fixed_dictionaries({"message": st.text(max_size=200)})}),
)
RETRY_AFTER = st.one_of(st.none(), st.text(max_size=30), st.floats(allow_nan=True).map(str))


@settings(max_examples=600, deadline=None)
@given(
    status=st.integers(100, 599),
    body=BODIES,
    retry_after=RETRY_AFTER,
    tries=st.integers(1, 5),
    max_retry_after=st.floats(0, 100),
)
def test_any_status_gets_a_decision_that_keeps_its_promises(
    status: int, body: object, retry_after: str | None, tries: int, max_retry_after: float
) -> None:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    exc = status_error(status, body, headers, provider="p", base_url="http://127.0.0.1:1/v1", path="/v1/x")
    assert isinstance(exc, nx.ProviderError) and len(str(exc)) < 1200  # a flood of text never reaches the user
    d = decide(exc, tries, RetryPolicy(max_retry_after=max_retry_after))
    assert isinstance(d.action, Action) and math.isfinite(d.delay) and 0 <= d.delay <= max_retry_after
    if d.action is Action.STOP:  # only a request every provider would refuse stops a chain
        assert status in (400, 422) and not isinstance(exc, nx.ContextOverflow)
    if status >= 500 or status in (300, 301, 302, 307, 308, 407, 408, 413, 421):
        assert d.action in (Action.NEXT, Action.RETRY)
    if d.action is Action.RETRY:
        assert tries <= RetryPolicy().max_retries and status in (429, 503)


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20)
)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(["connect", "first_byte", "idle", "total", "stream_total"]), value=SCALARS)
def test_any_timeout_value_is_accepted_only_when_it_makes_sense(field: str, value: object) -> None:
    try:
        t = Timeouts(**{field: value})
    except ValueError:  # pydantic's ValidationError is a ValueError; the kit wraps it below
        return
    got = getattr(t, field)
    assert got is None or (math.isfinite(got) and got > 0)


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["context_window", "max_tokens", "reserve", "max_response_bytes", "priority", "base_url"]),
    value=SCALARS,
)
def test_any_provider_value_is_valid_or_a_config_error_naming_the_field(field: str, value: object) -> None:
    try:
        ProviderConfig.checked(name="p", **{"base_url": "http://127.0.0.1:1/v1", field: value})
    except nx.ConfigError as exc:
        assert any(field in key for key, _ in exc.problems)


ENV_KEYS = st.lists(
    st.sampled_from(["runs_dir", "providers", "kimi", "timeouts", "connect", "base_url", "priority", "", "x"]),
    min_size=0,
    max_size=4,
).map(lambda parts: ENV_PREFIX + "__".join(parts))


@settings(max_examples=400, deadline=None)
@given(env=st.dictionaries(ENV_KEYS, st.text(max_size=15), max_size=4))
def test_any_environment_gives_a_config_or_a_config_error(env: dict[str, str]) -> None:
    try:
        cfg = LabConfig.load(None, environ=env)
    except nx.ConfigError as exc:
        assert exc.problems and str(exc).startswith("invalid configuration")
    else:
        assert isinstance(cfg, LabConfig)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"NXS_LAB__": "1"}, "names no setting"),
        ({"NXS_LAB__PROVIDERS": "[]"}, "providers come from the file"),
        ({"NXS_LAB__KIMI__TIMEOUTS": "5", "NXS_LAB__KIMI__TIMEOUTS__CONNECT": "3"}, "not a table"),
    ],
)
def test_environment_shapes_that_used_to_raise_type_errors(env: dict[str, str], says: str) -> None:
    with pytest.raises(nx.ConfigError, match=says):
        LabConfig.load(None, environ=env)
